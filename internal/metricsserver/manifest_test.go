package metricsserver

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
	"text/template"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"sigs.k8s.io/yaml"
)

// The addon's manifest, which the deploy controller applies on the server.
const manifestPath = "../addons/manifests/metrics-server.yaml"

// manifestValues are the fields of addons.Values the manifest uses.
type manifestValues struct {
	ServerCABase64 string
	MetricsPort    int
}

// The manifest declares exactly the APIService, the selector-less Service
// whose endpoints this package publishes, and the aggregated reader role,
// as upstream ships them, with the server CA as caBundle; every field
// parses strictly.
func TestManifest(t *testing.T) {
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	_, ca := testPKI(t)
	tmpl, err := template.New("metrics-server.yaml").Option("missingkey=error").Parse(string(raw))
	if err != nil {
		t.Fatalf("the manifest is not a valid template: %v", err)
	}
	var rendered bytes.Buffer
	if err := tmpl.Execute(&rendered, manifestValues{ServerCABase64: base64.StdEncoding.EncodeToString(ca.CertPEM), MetricsPort: 6445}); err != nil {
		t.Fatal(err)
	}

	var (
		apiService *apiregistrationv1.APIService
		svc        *corev1.Service
		role       *rbacv1.ClusterRole
	)
	r := utilyaml.NewYAMLReader(bufio.NewReader(&rendered))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		var into any
		switch tm.Kind {
		case "APIService":
			apiService = &apiregistrationv1.APIService{}
			into = apiService
		case "Service":
			svc = &corev1.Service{}
			into = svc
		case "ClusterRole":
			role = &rbacv1.ClusterRole{}
			into = role
		case "":
			continue // a comment-only document
		default:
			t.Fatalf("unexpected %s in the manifest", tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Fatalf("%s: %v", tm.Kind, err)
		}
	}
	if apiService == nil || svc == nil || role == nil {
		t.Fatalf("the manifest lacks one of APIService, Service, ClusterRole: %v %v %v", apiService != nil, svc != nil, role != nil)
	}

	if apiService.APIVersion != "apiregistration.k8s.io/v1" || apiService.Name != "v1beta1.metrics.k8s.io" {
		t.Errorf("APIService %s %s", apiService.APIVersion, apiService.Name)
	}
	spec := apiService.Spec
	if spec.Group != "metrics.k8s.io" || spec.Version != "v1beta1" || spec.GroupPriorityMinimum != 100 || spec.VersionPriority != 100 {
		t.Errorf("APIService spec %+v", spec)
	}
	if spec.Service == nil || spec.Service.Name != ServiceName || spec.Service.Namespace != Namespace || spec.Service.Port == nil || *spec.Service.Port != 443 {
		t.Errorf("APIService service %+v, want %s/%s port 443", spec.Service, Namespace, ServiceName)
	}
	if spec.InsecureSkipTLSVerify {
		t.Error("the APIService skips TLS verification")
	}
	if !bytes.Equal(spec.CABundle, ca.CertPEM) {
		t.Error("the APIService's caBundle is not the server CA")
	}

	if svc.Name != ServiceName || svc.Namespace != Namespace {
		t.Errorf("Service %s/%s, want %s/%s", svc.Namespace, svc.Name, Namespace, ServiceName)
	}
	if len(svc.Spec.Selector) != 0 {
		t.Errorf("the Service has a selector %v: the EndpointSlice controller would manage its endpoints", svc.Spec.Selector)
	}
	if svc.Labels["k8s-app"] != "metrics-server" {
		t.Errorf("Service labels %v, want k8s-app: metrics-server", svc.Labels)
	}
	wantPorts := []corev1.ServicePort{{Name: PortName, Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(6445), AppProtocol: ptr("https")}}
	if !reflect.DeepEqual(svc.Spec.Ports, wantPorts) {
		t.Errorf("Service ports %+v, want %+v", svc.Spec.Ports, wantPorts)
	}

	if role.Name != "system:aggregated-metrics-reader" {
		t.Errorf("ClusterRole %s", role.Name)
	}
	for _, to := range []string{"view", "edit", "admin"} {
		if role.Labels["rbac.authorization.k8s.io/aggregate-to-"+to] != "true" {
			t.Errorf("the reader role does not aggregate to %s: %v", to, role.Labels)
		}
	}
	wantRules := []rbacv1.PolicyRule{{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}}}
	if !reflect.DeepEqual(role.Rules, wantRules) {
		t.Errorf("ClusterRole rules %+v, want %+v", role.Rules, wantRules)
	}
}

func ptr[T any](v T) *T { return &v }
