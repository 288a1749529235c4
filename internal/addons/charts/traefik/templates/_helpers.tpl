{{/* The name of the chart's namespaced objects: the release's. */}}
{{- define "traefik.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Cluster-wide objects carry the namespace too: two releases of the
chart in two namespaces must not share them. */}}
{{- define "traefik.clusterName" -}}
{{- printf "%s-%s" (include "traefik.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "traefik.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "traefik.fullname" .) -}}
{{- end -}}

{{- define "traefik.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ printf "%s-%s" .Release.Name .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "traefik.labels" -}}
{{ include "traefik.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "traefik.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.registry -}}
{{ printf "%s/%s:%s" .Values.image.registry .Values.image.repository $tag }}
{{- else -}}
{{ printf "%s:%s" .Values.image.repository $tag }}
{{- end -}}
{{- end -}}

{{/* Traefik's command line: the entrypoints from .Values.ports, the
providers, logs, then the user's additionalArguments, which can override
any of them (Traefik takes the last value of a flag). */}}
{{- define "traefik.args" -}}
{{- range .Values.globalArguments }}
- {{ . | quote }}
{{- end }}
{{- range $name, $p := .Values.ports }}
- {{ printf "--entryPoints.%s.address=:%v/%s" $name $p.port (lower ($p.protocol | default "TCP")) | quote }}
{{- end }}
- "--ping=true"
- "--ping.entryPoint=traefik"
{{- with .Values.ports.websecure }}
{{- if and .tls .tls.enabled }}
- "--entryPoints.websecure.http.tls=true"
{{- end }}
{{- end }}
{{- with .Values.ports.web.redirections }}
{{- with .entryPoint }}
{{- $to := index $.Values.ports .to }}
- {{ printf "--entryPoints.web.http.redirections.entryPoint.to=:%v" $to.exposedPort | quote }}
- {{ printf "--entryPoints.web.http.redirections.entryPoint.scheme=%s" (.scheme | default "https") | quote }}
{{- $permanent := true }}
{{- if hasKey . "permanent" }}{{ $permanent = .permanent }}{{ end }}
- {{ printf "--entryPoints.web.http.redirections.entryPoint.permanent=%t" $permanent | quote }}
{{- end }}
{{- end }}
{{- with .Values.providers.kubernetesIngress }}
{{- if .enabled }}
- "--providers.kubernetesingress=true"
- {{ printf "--providers.kubernetesingress.allowExternalNameServices=%t" (.allowExternalNameServices | default false) | quote }}
- {{ printf "--providers.kubernetesingress.allowEmptyServices=%t" (.allowEmptyServices | default false) | quote }}
{{- with .namespaces }}
- {{ printf "--providers.kubernetesingress.namespaces=%s" (join "," .) | quote }}
{{- end }}
{{- if .publishedService.enabled }}
- {{ printf "--providers.kubernetesingress.ingressendpoint.publishedservice=%s" (.publishedService.pathOverride | default (printf "%s/%s" $.Release.Namespace (include "traefik.fullname" $))) | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.providers.kubernetesCRD }}
{{- if .enabled }}
- "--providers.kubernetescrd=true"
- {{ printf "--providers.kubernetescrd.allowCrossNamespace=%t" (.allowCrossNamespace | default false) | quote }}
- {{ printf "--providers.kubernetescrd.allowExternalNameServices=%t" (.allowExternalNameServices | default false) | quote }}
- {{ printf "--providers.kubernetescrd.allowEmptyServices=%t" (.allowEmptyServices | default false) | quote }}
{{- with .namespaces }}
- {{ printf "--providers.kubernetescrd.namespaces=%s" (join "," .) | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.logs.general }}
- {{ printf "--log.level=%s" (.level | default "INFO") | quote }}
{{- with .format }}
- {{ printf "--log.format=%s" . | quote }}
{{- end }}
{{- if .noColor }}
- "--log.noColor=true"
{{- end }}
{{- end }}
{{- with .Values.logs.access }}
{{- if .enabled }}
- "--accesslog=true"
{{- with .format }}
- {{ printf "--accesslog.format=%s" . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- range .Values.additionalArguments }}
- {{ . | quote }}
{{- end }}
{{- end -}}
