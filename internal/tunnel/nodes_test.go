package tunnel

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testNode(name string, port int32, podCIDRs []string, addrs ...corev1.NodeAddress) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Spec.PodCIDRs = podCIDRs
	if len(podCIDRs) > 0 {
		n.Spec.PodCIDR = podCIDRs[0]
	}
	n.Status.Addresses = addrs
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	return n
}

func internalIP(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func TestRouteForNodeMatches(t *testing.T) {
	node := testNode("a", 10250, []string{"10.42.1.0/24", "fd00:42:1::/64"},
		internalIP("192.168.1.10"),
		corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.7"},
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: "a.example"},
		internalIP("fd00::10"),
		internalIP("not-an-ip"),
	)
	r := routeForNode(node)
	for _, tc := range []struct {
		addr string
		want matchKind
	}{
		{"192.168.1.10:10250", matchKubelet},
		{"203.0.113.7:10250", matchKubelet},
		{"[fd00::10]:10250", matchKubelet},
		{"[::ffff:192.168.1.10]:10250", matchKubelet}, // IPv4-mapped is the same address
		{"192.168.1.10:22", matchNone},                // other ports on the node go direct
		{"192.168.1.10:30080", matchNone},
		{"10.42.1.5:8080", matchPodCIDR},
		{"10.42.1.0:80", matchPodCIDR},
		{"[fd00:42:1::5]:443", matchPodCIDR},
		{"10.42.2.5:8080", matchNone}, // another node's pods
		{"192.168.1.11:10250", matchNone},
	} {
		if got := r.match(netip.MustParseAddrPort(tc.addr)); got != tc.want {
			t.Errorf("match(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestRouteForNodeDefaults(t *testing.T) {
	// No reported kubelet port: the default one. Only the old single
	// spec.podCIDR: used. An unparsable CIDR: skipped, not fatal.
	n := testNode("b", 0, nil, internalIP("10.0.0.2"))
	n.Spec.PodCIDR = "10.42.3.0/24"
	r := routeForNode(n)
	if r.kubeletPort != DefaultKubeletPort {
		t.Errorf("kubelet port %d, want %d", r.kubeletPort, DefaultKubeletPort)
	}
	if got := r.match(netip.MustParseAddrPort("10.0.0.2:10250")); got != matchKubelet {
		t.Errorf("kubelet address: %v", got)
	}
	if got := r.match(netip.MustParseAddrPort("10.42.3.9:53")); got != matchPodCIDR {
		t.Errorf("pod address: %v", got)
	}

	n = testNode("c", 11250, []string{"garbage", "10.42.4.0/24"})
	r = routeForNode(n)
	if len(r.podCIDRs) != 1 || len(r.addrs) != 0 {
		t.Errorf("route %+v", r)
	}
	if got := r.match(netip.MustParseAddrPort("10.42.4.1:11250")); got != matchPodCIDR {
		t.Errorf("pod address: %v", got)
	}
}

func TestTrimNodeKeepsWhatRoutingReads(t *testing.T) {
	n := testNode("a", 10250, []string{"10.42.1.0/24"}, internalIP("192.168.1.10"))
	n.ResourceVersion = "7"
	n.Labels = map[string]string{"x": "y"}
	n.Status.Images = []corev1.ContainerImage{{Names: []string{"big"}}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady}}
	obj, err := trimNode(n)
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*corev1.Node)
	if got.Name != "a" || got.ResourceVersion != "7" {
		t.Errorf("meta %+v", got.ObjectMeta)
	}
	if got.Labels != nil || got.Status.Images != nil || got.Status.Conditions != nil {
		t.Errorf("kept what routing does not read: %+v", got)
	}
	want := routeForNode(n)
	r := routeForNode(got)
	if r.kubeletPort != want.kubeletPort || len(r.addrs) != 1 || len(r.podCIDRs) != 1 {
		t.Errorf("route after trim %+v, want %+v", r, want)
	}
	if o, _ := trimNode("tombstone"); o != "tombstone" {
		t.Errorf("non-Node changed: %v", o)
	}
}
