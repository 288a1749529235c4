package metricsserver

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"

	"github.com/skiff-k8s/skiff/internal/addons"
)

// The manifest declares exactly the APIService, the selector-less Service
// whose endpoints this package publishes, and the aggregated reader role,
// as upstream ships them, with the server CA as caBundle; every field
// parses strictly.
func TestManifest(t *testing.T) {
	_, ca := testPKI(t)
	objs, err := addons.Objects(addons.MetricsServer, addons.Values{ServerCABase64: base64.StdEncoding.EncodeToString(ca.CertPEM), MetricsPort: 6445})
	if err != nil {
		t.Fatal(err)
	}
	var (
		apiService *apiregistrationv1.APIService
		svc        *corev1.Service
		role       *rbacv1.ClusterRole
	)
	for _, o := range objs {
		switch o := o.(type) {
		case *apiregistrationv1.APIService:
			apiService = o
		case *corev1.Service:
			svc = o
		case *rbacv1.ClusterRole:
			role = o
		default:
			t.Fatalf("unexpected %T in the manifest", o)
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
