package metricsserver

import (
	"strings"

	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
	generatedopenapi "sigs.k8s.io/metrics-server/pkg/api/generated/openapi"
)

// openAPIDefinitions are metrics-server's generated OpenAPI definitions
// under the names this Kubernetes gives the types.
//
// metrics-server v0.8.0 generated them before Kubernetes 1.35 gave every
// API type an OpenAPIModelName ("io.k8s.metrics.pkg.apis.metrics.v1beta1.
// NodeMetrics"), so its map is keyed, and its references and dependencies
// named, by Go path ("k8s.io/metrics/pkg/apis/metrics/v1beta1.NodeMetrics").
// The generic server of k8s.io/apiserver v0.37 looks each type up by its
// model name, found none, and refused to install the API group ("cannot
// find model definition"). The model names are the Go names made REST
// friendly, which is what this renaming does, throughout.
func openAPIDefinitions(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	defs := generatedopenapi.GetOpenAPIDefinitions(func(name string) spec.Ref { return ref(modelName(name)) })
	out := make(map[string]common.OpenAPIDefinition, len(defs))
	for name, def := range defs {
		deps := make([]string, len(def.Dependencies))
		for i, d := range def.Dependencies {
			deps[i] = modelName(d)
		}
		def.Dependencies = deps
		out[modelName(name)] = def
	}
	return out
}

// modelName is the OpenAPI model name of the type a generated definition
// names by its Go path; a name without a path is one already.
func modelName(goName string) string {
	if !strings.Contains(goName, "/") {
		return goName
	}
	return util.ToRESTFriendlyName(goName)
}
