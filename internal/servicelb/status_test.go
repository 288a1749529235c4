package servicelb

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestStatusPatch(t *testing.T) {
	for _, tc := range []struct {
		ingress []corev1.LoadBalancerIngress
		want    string
	}{
		{nil, `{"metadata":{"resourceVersion":"42"},"status":{"loadBalancer":{"ingress":null}}}`},
		{[]corev1.LoadBalancerIngress{}, `{"metadata":{"resourceVersion":"42"},"status":{"loadBalancer":{"ingress":null}}}`},
		{
			[]corev1.LoadBalancerIngress{{IP: "10.0.0.1", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP), Ports: []corev1.PortStatus{{Port: 80, Protocol: corev1.ProtocolTCP}}}},
			`{"metadata":{"resourceVersion":"42"},"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1","ipMode":"VIP","ports":[{"port":80,"protocol":"TCP"}]}]}}}`,
		},
	} {
		got, err := statusPatch("42", tc.ingress)
		if err != nil || string(got) != tc.want {
			t.Errorf("statusPatch(%v)\n got %s, %v\nwant %s", tc.ingress, got, err, tc.want)
		}
	}
}

// What the apiserver stores is what decide wants: no write at every pass.
func TestIngressEqual(t *testing.T) {
	nodes := []*corev1.Node{node("n1", true, nil, "InternalIP=10.0.0.1")}
	svc := lb("web", 0, "80/TCP")
	want, _ := ingressFor(svc, nodes, "", nil)
	stored := []corev1.LoadBalancerIngress{{IP: "10.0.0.1", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP), Ports: []corev1.PortStatus{{Port: 80, Protocol: "TCP"}}}}
	if !ingressEqual(stored, want) {
		t.Errorf("%v and %v differ", stored, want)
	}
	if !ingressEqual(nil, []corev1.LoadBalancerIngress{}) {
		t.Error("nil and empty differ")
	}
	unset := []corev1.LoadBalancerIngress{{IP: "10.0.0.1", Ports: stored[0].Ports}}
	if ingressEqual(unset, want) {
		t.Error("an ingress without ipMode counts as equal to ours, which says VIP; it should be rewritten")
	}
}

func TestSetBySkiff(t *testing.T) {
	nodeIPs := allNodeIPs([]corev1.Node{
		*node("n1", true, nil, "InternalIP=10.0.0.1", "ExternalIP=203.0.113.1"),
		*node("n2", true, nil, "InternalIP=fd00:0:0::2"),
	})
	with := func(s *corev1.Service, ing ...corev1.LoadBalancerIngress) *corev1.Service {
		s.Status.LoadBalancer.Ingress = ing
		return s
	}
	vip := func(ip string) corev1.LoadBalancerIngress {
		return corev1.LoadBalancerIngress{IP: ip, IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}
	}
	proxy := corev1.LoadBalancerIngress{IP: "10.0.0.1", IPMode: ptr.To(corev1.LoadBalancerIPModeProxy)}
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		want bool
	}{
		{"node IPs", with(lb("a", 0, "80/TCP"), vip("10.0.0.1"), vip("203.0.113.1")), true},
		{"IPv6 in another spelling", with(lb("a", 0, "80/TCP"), vip("fd00::2")), true},
		{"skiff's class", with(withClass(lb("a", 0, "80/TCP"), ClassName), vip("10.0.0.1")), true},
		{"another class", with(withClass(lb("a", 0, "80/TCP"), "metallb.io/x"), vip("10.0.0.1")), false},
		{"an IP that is no node's", with(lb("a", 0, "80/TCP"), vip("10.0.0.1"), vip("192.0.2.9")), false},
		{"a host name", with(lb("a", 0, "80/TCP"), corev1.LoadBalancerIngress{Hostname: "lb.example.com"}), false},
		{"ipMode Proxy", with(lb("a", 0, "80/TCP"), proxy), false},
		{"no ingress", lb("a", 0, "80/TCP"), false},
	} {
		if got := setBySkiff(tc.svc, nodeIPs); got != tc.want {
			t.Errorf("%s: setBySkiff = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIngressIPs(t *testing.T) {
	got := ingressIPs([]corev1.LoadBalancerIngress{{IP: "10.0.0.1"}, {Hostname: "h.example"}})
	if got != "[10.0.0.1 h.example]" {
		t.Errorf("got %q", got)
	}
}
