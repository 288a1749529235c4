package addons

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// The charts are written as `helm package` would, once: an unchanged
// chart is not rewritten, the bytes do not depend on the run, and a
// disabled addon's charts are not written.
func TestWriteCharts(t *testing.T) {
	dir := t.TempDir()
	if err := WriteCharts(dir, Disabled{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"traefik-3.7.13.tgz", "traefik-crd-3.7.13.tgz"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("wrote %v, want %v", got, want)
	}
	path := filepath.Join(dir, "traefik-3.7.13.tgz")
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if err := WriteCharts(dir, Disabled{}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || !st.ModTime().Equal(old) {
		t.Errorf("an unchanged chart was rewritten (%v)", err)
	}
	if _, again, err := packageChart("traefik"); err != nil || !bytes.Equal(again, first) {
		t.Errorf("packaging the chart twice gave different bytes (%v)", err)
	}
	for name, content := range untar(t, first) {
		if !strings.HasPrefix(name, "traefik/") || len(content) == 0 {
			t.Errorf("the archive holds %q (%d bytes): want every file under traefik/", name, len(content))
		}
	}

	none := t.TempDir()
	if err := WriteCharts(none, Disabled{Traefik: true}); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, none); len(got) != 0 {
		t.Errorf("with traefik disabled, wrote %v", got)
	}
}

// The HelmCharts in traefik.yaml point at the files WriteCharts writes,
// through k3s's static charts URL, and their values are values the chart
// knows.
func TestTraefikManifestPointsAtTheCharts(t *testing.T) {
	objs, err := Objects(Traefik, testValues)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteCharts(dir, Disabled{}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok || u.GetKind() != "HelmChart" || u.GetAPIVersion() != "helm.cattle.io/v1" {
			t.Fatalf("traefik.yaml holds %T %v: want only helm.cattle.io/v1 HelmCharts", o, o.GetObjectKind().GroupVersionKind())
		}
		names = append(names, u.GetName())
		url, _, _ := unstructured.NestedString(u.Object, "spec", "chart")
		file, ok := strings.CutPrefix(url, "https://%{KUBERNETES_API}%/static/charts/")
		if !ok {
			t.Errorf("%s: chart %q is not a static chart URL", u.GetName(), url)
		}
		if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
			t.Errorf("%s: chart %q: %v", u.GetName(), url, err)
		}
		if ns, _, _ := unstructured.NestedString(u.Object, "spec", "targetNamespace"); ns != "kube-system" {
			t.Errorf("%s: targetNamespace %q", u.GetName(), ns)
		}
		content, _, _ := unstructured.NestedString(u.Object, "spec", "valuesContent")
		var values map[string]any
		if err := yaml.Unmarshal([]byte(content), &values); err != nil {
			t.Errorf("%s: valuesContent: %v", u.GetName(), err)
		}
		if u.GetName() == "traefik" {
			objs := renderChart(t, "traefik", values)
			d := deployment(t, objs)
			if got := d.Spec.Template.Spec.Containers[0].Image; got != string(testValues.TraefikImage) {
				t.Errorf("the Deployment runs %q, want %q", got, testValues.TraefikImage)
			}
			if got := d.Spec.Template.Spec.PriorityClassName; got != "system-cluster-critical" {
				t.Errorf("priorityClassName %q", got)
			}
			if len(d.Spec.Template.Spec.Tolerations) != 2 {
				t.Errorf("tolerations %v: want CriticalAddonsOnly and the control plane's", d.Spec.Template.Spec.Tolerations)
			}
		}
	}
	if !slices.Equal(names, []string{"traefik-crd", "traefik"}) {
		t.Errorf("HelmCharts %v, want traefik-crd then traefik", names)
	}
}

// The chart with its defaults renders what skiff's ingress needs: Traefik
// as a non-root user on ports above 1024, the entrypoints, providers and
// published Service on its command line, a LoadBalancer Service on 80 and
// 443, the default IngressClass, and the rights its providers use.
func TestTraefikChartDefaults(t *testing.T) {
	objs := renderChart(t, "traefik", nil)
	d := deployment(t, objs)
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "docker.io/library/traefik:v3.7.13" || len(c.Command) != 0 {
		t.Errorf("image %q, command %q: want upstream's name and its entrypoint", c.Image, c.Command)
	}
	for _, arg := range []string{
		"--entryPoints.web.address=:8000/tcp",
		"--entryPoints.websecure.address=:8443/tcp",
		"--entryPoints.traefik.address=:9000/tcp",
		"--entryPoints.websecure.http.tls=true",
		"--ping=true",
		"--providers.kubernetesingress=true",
		"--providers.kubernetesingress.ingressendpoint.publishedservice=kube-system/traefik",
		"--providers.kubernetescrd=true",
		"--log.level=INFO",
		"--log.noColor=true",
		"--global.checknewversion=false",
	} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args lack %s: %q", arg, c.Args)
		}
	}
	ps := d.Spec.Template.Spec.SecurityContext
	if ps == nil || ps.RunAsUser == nil || *ps.RunAsUser != 65532 || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot {
		t.Errorf("pod security context %+v: want user 65532, non-root", ps)
	}
	cs := c.SecurityContext
	if cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem || cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v: want a read-only root and no capability", cs)
	}
	for _, p := range c.Ports {
		if p.ContainerPort < 1024 {
			t.Errorf("port %s is %d: a non-root Traefik without capabilities cannot bind it", p.Name, p.ContainerPort)
		}
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/ping" {
		t.Errorf("readiness probe %+v: want GET /ping", c.ReadinessProbe)
	}
	var mounts []string
	for _, m := range c.VolumeMounts {
		mounts = append(mounts, m.MountPath)
	}
	if !slices.Equal(mounts, []string{"/data", "/tmp"}) {
		t.Errorf("mounts %v, want /data and /tmp", mounts)
	}

	svc := only[*corev1.Service](t, objs)
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Spec.Ports) != 2 {
		t.Fatalf("Service %+v: want a LoadBalancer with two ports", svc.Spec)
	}
	for _, p := range svc.Spec.Ports {
		want := map[string]int32{"web": 80, "websecure": 443}[p.Name]
		if p.Port != want || p.TargetPort.StrVal != p.Name {
			t.Errorf("Service port %s: %d → %s, want %d → %s", p.Name, p.Port, p.TargetPort.String(), want, p.Name)
		}
	}
	ic := only[*networkingv1.IngressClass](t, objs)
	if ic.Name != "traefik" || ic.Spec.Controller != "traefik.io/ingress-controller" || ic.Annotations["ingressclass.kubernetes.io/is-default-class"] != "true" {
		t.Errorf("IngressClass %s %+v %v", ic.Name, ic.Spec, ic.Annotations)
	}
	role := only[*rbacv1.ClusterRole](t, objs)
	for _, need := range [][3]string{
		{"", "services", "watch"}, {"", "secrets", "watch"}, {"", "nodes", "list"},
		{"discovery.k8s.io", "endpointslices", "watch"},
		{"networking.k8s.io", "ingresses", "watch"}, {"networking.k8s.io", "ingressclasses", "list"},
		{"networking.k8s.io", "ingresses/status", "update"},
		{"traefik.io", "ingressroutes", "watch"}, {"traefik.io", "middlewares", "list"},
	} {
		if !allows(role, need[0], need[1], need[2]) {
			t.Errorf("the ClusterRole does not allow %s on %s/%s", need[2], need[0], need[1])
		}
	}
	binding := only[*rbacv1.ClusterRoleBinding](t, objs)
	if binding.RoleRef.Name != role.Name || binding.Subjects[0].Name != d.Spec.Template.Spec.ServiceAccountName {
		t.Errorf("the ClusterRoleBinding %+v does not bind the role to the Deployment's service account", binding)
	}
}

// The official chart's names for the common settings change what they
// should, so that a k3s user's HelmChartConfig for traefik keeps working.
func TestTraefikChartValues(t *testing.T) {
	values := map[string]any{}
	if err := yaml.Unmarshal([]byte(`
image: {registry: registry.example.com, repository: mirror/traefik, tag: v3.7.14}
deployment: {replicas: 2, podAnnotations: {prometheus.io/scrape: "true"}}
additionalArguments: ["--api.insecure=true"]
ports:
  web:
    port: 8080
    exposedPort: 8081
    nodePort: 30080
    redirections: {entryPoint: {to: websecure, scheme: https}}
  websecure: {port: 8444, exposedPort: 8443}
service:
  type: NodePort
  annotations: {a: b}
  spec: {externalTrafficPolicy: Local}
logs: {general: {level: DEBUG}, access: {enabled: true}}
resources: {requests: {cpu: 100m}}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: k, operator: Exists}]
priorityClassName: high
ingressClass: {enabled: true, isDefaultClass: false}
providers:
  kubernetesIngress: {publishedService: {enabled: false}}
  kubernetesCRD: {enabled: false}
`), &values); err != nil {
		t.Fatal(err)
	}
	objs := renderChart(t, "traefik", values)
	d := deployment(t, objs)
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	if c.Image != "registry.example.com/mirror/traefik:v3.7.14" {
		t.Errorf("image %q", c.Image)
	}
	if *d.Spec.Replicas != 2 || d.Spec.Template.Annotations["prometheus.io/scrape"] != "true" {
		t.Errorf("replicas %d, pod annotations %v", *d.Spec.Replicas, d.Spec.Template.Annotations)
	}
	for _, arg := range []string{
		"--entryPoints.web.address=:8080/tcp",
		"--entryPoints.websecure.address=:8444/tcp",
		"--entryPoints.web.http.redirections.entryPoint.to=:8443",
		"--entryPoints.web.http.redirections.entryPoint.scheme=https",
		"--entryPoints.web.http.redirections.entryPoint.permanent=true",
		"--log.level=DEBUG",
		"--accesslog=true",
	} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args lack %s: %q", arg, c.Args)
		}
	}
	if c.Args[len(c.Args)-1] != "--api.insecure=true" {
		t.Errorf("additionalArguments are not last: %q", c.Args)
	}
	for _, arg := range c.Args {
		if strings.Contains(arg, "publishedservice") || strings.Contains(arg, "kubernetescrd") {
			t.Errorf("a disabled setting is still on the command line: %s", arg)
		}
	}
	if c.Resources.Requests.Cpu().String() != "100m" || spec.NodeSelector["kubernetes.io/os"] != "linux" ||
		len(spec.Tolerations) != 1 || spec.PriorityClassName != "high" {
		t.Errorf("resources %v, nodeSelector %v, tolerations %v, priorityClassName %q", c.Resources, spec.NodeSelector, spec.Tolerations, spec.PriorityClassName)
	}
	svc := only[*corev1.Service](t, objs)
	if svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Annotations["a"] != "b" || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("Service %v %+v", svc.Annotations, svc.Spec)
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "web" && (p.Port != 8081 || p.NodePort != 30080) {
			t.Errorf("web port %+v", p)
		}
	}
	ic := only[*networkingv1.IngressClass](t, objs)
	if _, ok := ic.Annotations["ingressclass.kubernetes.io/is-default-class"]; ok {
		t.Errorf("isDefaultClass false still marks the class default: %v", ic.Annotations)
	}
	role := only[*rbacv1.ClusterRole](t, objs)
	if allows(role, "traefik.io", "ingressroutes", "list") {
		t.Error("with the CRD provider off, the role still reads traefik.io")
	}
}

// The CRD chart holds Traefik's kinds, and both charts pass helm lint.
func TestTraefikChartsLint(t *testing.T) {
	for _, name := range []string{"traefik", "traefik-crd"} {
		dir := t.TempDir()
		_, data, err := packageChart(name)
		if err != nil {
			t.Fatal(err)
		}
		for path, content := range untar(t, data) {
			if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(path)), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, path), content, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		result := lint.RunAll(filepath.Join(dir, name), nil, "kube-system")
		for _, m := range result.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("helm lint %s: %s", name, m)
			}
		}
	}
	var kinds []string
	for _, o := range renderChart(t, "traefik-crd", nil) {
		u := o.(*unstructured.Unstructured)
		kind, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
		kinds = append(kinds, kind)
	}
	for _, kind := range []string{"IngressRoute", "Middleware", "TLSOption", "TraefikService", "ServersTransport"} {
		if !slices.Contains(kinds, kind) {
			t.Errorf("the CRD chart lacks %s: %v", kind, kinds)
		}
	}
}

// renderChart renders the packaged chart with Helm's engine as release
// name in kube-system (as the addon installs it) and decodes every
// object, strictly for the kinds client-go knows.
func renderChart(t *testing.T, name string, values map[string]any) []runtime.Object {
	t.Helper()
	_, data, err := packageChart(name)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	opts := common.ReleaseOptions{Name: name, Namespace: "kube-system", IsInstall: true, Revision: 1}
	vals, err := chartutil.ToRenderValues(ch, values, opts, common.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	decode := serializer.NewCodecFactory(clientscheme.Scheme, serializer.EnableStrict).UniversalDeserializer().Decode
	var objs []runtime.Object
	for file, manifest := range out {
		if !strings.HasSuffix(file, ".yaml") {
			continue
		}
		for _, doc := range strings.Split(manifest, "\n---") {
			if onlyComments([]byte(doc)) {
				continue
			}
			if strings.Contains(doc, "kind: CustomResourceDefinition") {
				u := &unstructured.Unstructured{}
				if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				objs = append(objs, u)
				continue
			}
			obj, _, err := decode([]byte(doc), nil, nil)
			if err != nil {
				t.Fatalf("%s: %v\n%s", file, err, doc)
			}
			objs = append(objs, obj)
		}
	}
	return objs
}

func deployment(t *testing.T, objs []runtime.Object) *appsv1.Deployment {
	t.Helper()
	d := only[*appsv1.Deployment](t, objs)
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("the Deployment has %d containers", len(d.Spec.Template.Spec.Containers))
	}
	return d
}

// only returns the one object of type T among objs.
func only[T runtime.Object](t *testing.T, objs []runtime.Object) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("%d objects of type %T, want 1", len(found), zero)
	}
	return found[0]
}

func allows(role *rbacv1.ClusterRole, group, resource, verb string) bool {
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func untar(t *testing.T, tgz []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = data
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
