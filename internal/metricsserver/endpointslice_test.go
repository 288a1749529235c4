package metricsserver

import (
	"net"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestSliceName(t *testing.T) {
	long := strings.Repeat("a", 250)
	for _, tc := range []struct{ identity, want string }{
		{"node-a", "metrics-server-node-a"},
		{"Edge-Box.example.com", "metrics-server-edge-box.example.com"},
		{"my_host", "metrics-server-my-host"},
		{"-odd-", "metrics-server-odd"},
		{"___", "metrics-server-server"},
	} {
		if got := sliceName(tc.identity); got != tc.want {
			t.Errorf("sliceName(%q) = %q, want %q", tc.identity, got, tc.want)
		}
	}
	a, b := sliceName(long+"x"), sliceName(long+"y")
	for _, name := range []string{a, b} {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("sliceName of a long identity = %q: %v", name, errs)
		}
	}
	if a == b {
		t.Errorf("two long identities share the slice %q", a)
	}
}

// service is the addon's Service; service("1") has the UID "uid-1".
func service(uid string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: Namespace, UID: types.UID("uid-" + uid)}}
}

// The slice names the Service (label and owner), carries the server's one
// address at its port under the Service port's name, ready, in the
// address's family.
func TestDesiredSlice(t *testing.T) {
	for _, tc := range []struct {
		ip       string
		wantType discoveryv1.AddressType
	}{
		{"192.0.2.10", discoveryv1.AddressTypeIPv4},
		{"2001:db8::10", discoveryv1.AddressTypeIPv6},
		{"::ffff:192.0.2.10", discoveryv1.AddressTypeIPv4},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			s := desiredSlice("metrics-server-node-a", service("1"), net.ParseIP(tc.ip), 6445)
			if s.Name != "metrics-server-node-a" || s.Namespace != Namespace {
				t.Errorf("slice %s/%s", s.Namespace, s.Name)
			}
			if s.Labels[discoveryv1.LabelServiceName] != ServiceName || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy {
				t.Errorf("labels %v", s.Labels)
			}
			wantOwner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: ServiceName, UID: "uid-1"}}
			if !apiequality.Semantic.DeepEqual(s.OwnerReferences, wantOwner) {
				t.Errorf("owners %+v, want %+v", s.OwnerReferences, wantOwner)
			}
			if s.AddressType != tc.wantType {
				t.Errorf("address type %s, want %s", s.AddressType, tc.wantType)
			}
			if len(s.Endpoints) != 1 || len(s.Endpoints[0].Addresses) != 1 || s.Endpoints[0].Addresses[0] != net.ParseIP(tc.ip).String() {
				t.Fatalf("endpoints %+v, want the one address %s", s.Endpoints, net.ParseIP(tc.ip))
			}
			if r := s.Endpoints[0].Conditions.Ready; r == nil || !*r {
				t.Error("the endpoint is not ready: the aggregator would skip it")
			}
			if len(s.Ports) != 1 {
				t.Fatalf("ports %+v", s.Ports)
			}
			p := s.Ports[0]
			if p.Name == nil || *p.Name != PortName || p.Port == nil || *p.Port != 6445 || p.Protocol == nil || *p.Protocol != corev1.ProtocolTCP {
				t.Errorf("port %+v, want https 6445/TCP", p)
			}
		})
	}
}

// A slice is rewritten only when it says something else than wanted;
// what others added stays.
func TestSliceUpdate(t *testing.T) {
	want := desiredSlice("s", service("1"), net.ParseIP("192.0.2.10"), 6445)
	withForeign := func(s *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
		s.Labels["team"] = "x"
		s.OwnerReferences = append(s.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "other", UID: "cm"})
		return s
	}
	for _, tc := range []struct {
		name        string
		have        *discoveryv1.EndpointSlice
		upToDate    bool
		mustReplace bool
	}{
		{name: "same", have: desiredSlice("s", service("1"), net.ParseIP("192.0.2.10"), 6445), upToDate: true},
		{name: "same with foreign label and owner", have: withForeign(desiredSlice("s", service("1"), net.ParseIP("192.0.2.10"), 6445)), upToDate: true},
		{name: "address moved", have: desiredSlice("s", service("1"), net.ParseIP("192.0.2.99"), 6445)},
		{name: "port moved", have: desiredSlice("s", service("1"), net.ParseIP("192.0.2.10"), 7445)},
		{name: "Service re-created", have: withForeign(desiredSlice("s", service("0"), net.ParseIP("192.0.2.10"), 6445))},
		{name: "label removed", have: func() *discoveryv1.EndpointSlice {
			s := desiredSlice("s", service("1"), net.ParseIP("192.0.2.10"), 6445)
			delete(s.Labels, discoveryv1.LabelServiceName)
			return s
		}()},
		{name: "not ready", have: func() *discoveryv1.EndpointSlice {
			s := desiredSlice("s", service("1"), net.ParseIP("192.0.2.10"), 6445)
			no := false
			s.Endpoints[0].Conditions.Ready = &no
			return s
		}()},
		{name: "IPv6 before", have: desiredSlice("s", service("1"), net.ParseIP("2001:db8::1"), 6445), mustReplace: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sliceUpToDate(tc.have, want); got != tc.upToDate {
				t.Fatalf("sliceUpToDate = %v, want %v", got, tc.upToDate)
			}
			if got := mustReplace(tc.have, want); got != tc.mustReplace {
				t.Fatalf("mustReplace = %v, want %v", got, tc.mustReplace)
			}
			if tc.upToDate || tc.mustReplace {
				return
			}
			out := updatedSlice(tc.have, want)
			if !sliceUpToDate(out, want) {
				t.Errorf("the update does not say what is wanted: %+v", out)
			}
			if tc.have.Labels["team"] == "x" && out.Labels["team"] != "x" {
				t.Error("the update dropped a label someone else set")
			}
			var owners []string
			for _, o := range out.OwnerReferences {
				owners = append(owners, o.Kind+"/"+string(o.UID))
			}
			for _, o := range tc.have.OwnerReferences {
				if o.Kind == "ConfigMap" && !strings.Contains(strings.Join(owners, " "), "ConfigMap/cm") {
					t.Errorf("the update dropped another owner: %v", owners)
				}
			}
			if strings.Contains(strings.Join(owners, " "), "Service/uid-0") {
				t.Errorf("the update kept the deleted Service as owner: %v", owners)
			}
		})
	}
}
