package overlay

import (
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, cidrs []string, ann map[string]string, internalIP string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann}}
	n.Spec.PodCIDRs = cidrs
	if len(cidrs) > 0 {
		n.Spec.PodCIDR = cidrs[0]
	}
	if internalIP != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: internalIP}}
	}
	return n
}

func ann(ip, mac string) map[string]string {
	a := map[string]string{}
	if ip != "" {
		a[PublicIPAnnotation] = ip
	}
	if mac != "" {
		a[VtepMACAnnotation] = mac
	}
	return a
}

func cidr(s string) *net.IPNet {
	_, c, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	c.IP = c.IP.To4()
	return c
}

func testView(backend string) view {
	return view{backend: backend, self: "a", selfIP: net.ParseIP("192.168.1.1").To4(), cluster: cidr("10.42.0.0/16")}
}

// The nodes of a small cluster, seen from node "a", with one node of each
// kind that cannot be routed.
func clusterNodes() []*corev1.Node {
	return []*corev1.Node{
		node("c", []string{"10.42.3.0/24"}, ann("192.168.1.3", "02:00:00:00:00:03"), "192.168.1.3"),
		node("a", []string{"10.42.1.0/24"}, ann("192.168.1.1", "02:00:00:00:00:01"), "192.168.1.1"),
		node("b", []string{"10.42.2.0/24", "fd00:42:0:2::/64"}, ann("192.168.1.2", "02:00:00:00:00:02"), "192.168.1.2"),
		node("new", nil, nil, "192.168.1.9"),                                                   // no pod CIDR yet
		node("fresh", []string{"10.42.5.0/24"}, nil, "192.168.1.5"),                            // no annotations yet
		node("outside", []string{"10.99.0.0/24"}, ann("192.168.1.6", "02:00:00:00:00:06"), ""), // not in the cluster CIDR
		node("v6only", []string{"fd00:42:0:7::/64"}, ann("192.168.1.7", "02:00:00:00:00:07"), ""),
		node("clash", []string{"10.42.2.0/25"}, ann("192.168.1.8", "02:00:00:00:00:08"), ""),  // overlaps b
		node("me-too", []string{"10.42.9.0/24"}, ann("192.168.1.1", "02:00:00:00:00:09"), ""), // a's IP
		node("badmac", []string{"10.42.10.0/24"}, ann("192.168.1.10", "nope"), ""),
	}
}

func TestDesiredStateVXLAN(t *testing.T) {
	st, skipped := desiredState(testView(BackendVXLAN), clusterNodes())
	if st.OwnPodCIDR.String() != "10.42.1.0/24" {
		t.Errorf("own pod CIDR = %v", st.OwnPodCIDR)
	}
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	ip := func(s string) net.IP { return net.ParseIP(s).To4() }
	wantRoutes := []routeSpec{
		{Dst: cidr("10.42.2.0/24"), Gw: ip("10.42.2.0")},
		{Dst: cidr("10.42.3.0/24"), Gw: ip("10.42.3.0")},
	}
	wantNeighs := []neighSpec{
		{IP: ip("10.42.2.0"), MAC: mac("02:00:00:00:00:02")},
		{IP: ip("10.42.3.0"), MAC: mac("02:00:00:00:00:03")},
	}
	wantFDB := []fdbSpec{
		{MAC: mac("02:00:00:00:00:02"), Dst: ip("192.168.1.2")},
		{MAC: mac("02:00:00:00:00:03"), Dst: ip("192.168.1.3")},
	}
	if !reflect.DeepEqual(st.Routes, wantRoutes) {
		t.Errorf("routes = %v\nwant %v", st.Routes, wantRoutes)
	}
	if !reflect.DeepEqual(st.Neighs, wantNeighs) {
		t.Errorf("neighs = %v\nwant %v", st.Neighs, wantNeighs)
	}
	if !reflect.DeepEqual(st.FDB, wantFDB) {
		t.Errorf("fdb = %v\nwant %v", st.FDB, wantFDB)
	}
	wantSkipped := map[string]string{
		"new":     "no pod CIDR yet",
		"fresh":   "annotation yet",
		"outside": "outside the cluster CIDR",
		"v6only":  "no IPv4 pod CIDR",
		"clash":   "overlaps 10.42.2.0/24",
		"me-too":  "this node's",
		"badmac":  "bad skiff.io/vtep-mac",
	}
	if len(skipped) != len(wantSkipped) {
		t.Errorf("skipped %v, want %d", skipped, len(wantSkipped))
	}
	for name, want := range wantSkipped {
		if !strings.Contains(skipped[name], want) {
			t.Errorf("%s skipped for %q, want %q", name, skipped[name], want)
		}
	}
}

func TestDesiredStateHostGW(t *testing.T) {
	st, skipped := desiredState(testView(BackendHostGW), clusterNodes())
	var got []string
	for _, r := range st.Routes {
		got = append(got, fmt.Sprintf("%s via %s", r.Dst, r.Gw))
	}
	// host-gw needs no annotation: "fresh" is reached at its InternalIP.
	// In node name order: b, badmac, c, fresh.
	want := []string{"10.42.2.0/24 via 192.168.1.2", "10.42.10.0/24 via 192.168.1.10", "10.42.3.0/24 via 192.168.1.3", "10.42.5.0/24 via 192.168.1.5"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes = %v\nwant %v", got, want)
	}
	if len(st.Neighs)+len(st.FDB) != 0 {
		t.Errorf("host-gw wants no neighbour or FDB entries: %v %v", st.Neighs, st.FDB)
	}
	if _, ok := skipped["fresh"]; ok {
		t.Error("fresh skipped")
	}
	// The annotation wins over the InternalIP; neither: skipped.
	st, skipped = desiredState(testView(BackendHostGW), []*corev1.Node{
		node("x", []string{"10.42.4.0/24"}, ann("192.168.2.4", ""), "192.168.1.4"),
		node("y", []string{"10.42.6.0/24"}, nil, ""),
	})
	if len(st.Routes) != 1 || st.Routes[0].Gw.String() != "192.168.2.4" {
		t.Errorf("routes = %v", st.Routes)
	}
	if !strings.Contains(skipped["y"], "no IPv4 InternalIP") {
		t.Errorf("y skipped for %q", skipped["y"])
	}
}

func TestDesiredStateDeterministic(t *testing.T) {
	// Two nodes with the same MAC or CIDR: the same one (by name) wins
	// whatever the order the informer lists them in.
	nodes := []*corev1.Node{
		node("z", []string{"10.42.2.0/24"}, ann("192.168.1.2", "02:00:00:00:00:02"), ""),
		node("m", []string{"10.42.3.0/24"}, ann("192.168.1.3", "02:00:00:00:00:02"), ""),
	}
	st, skipped := desiredState(testView(BackendVXLAN), nodes)
	if len(st.Peers) != 1 || st.Peers[0].Name != "m" || !strings.Contains(skipped["z"], "node m's too") {
		t.Errorf("peers %v, skipped %v", st.Peers, skipped)
	}
	// No own node (not registered yet): peers are still routed.
	if st.OwnPodCIDR != nil {
		t.Errorf("own pod CIDR %v", st.OwnPodCIDR)
	}
}

func TestAnnotationsPatch(t *testing.T) {
	mac, _ := net.ParseMAC("02:aa:bb:cc:dd:ee")
	want := ownAnnotations(BackendVXLAN, net.ParseIP("192.168.1.1"), mac)
	n := node("a", nil, map[string]string{"other": "x"}, "")
	p := annotationsPatch(n, want)
	var got map[string]map[string]map[string]string
	if err := json.Unmarshal(p, &got); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if !reflect.DeepEqual(got["metadata"]["annotations"], want) {
		t.Errorf("patch %s", p)
	}
	n.Annotations = map[string]string{"other": "x", PublicIPAnnotation: "192.168.1.1", VtepMACAnnotation: "02:aa:bb:cc:dd:ee"}
	if p := annotationsPatch(n, want); p != nil {
		t.Errorf("patch for a node that has them: %s", p)
	}
	// host-gw publishes the IP only.
	if a := ownAnnotations(BackendHostGW, net.ParseIP("192.168.1.1"), nil); len(a) != 1 || a[PublicIPAnnotation] != "192.168.1.1" {
		t.Errorf("host-gw annotations %v", a)
	}
}

func TestRelevantChange(t *testing.T) {
	a := node("a", []string{"10.42.1.0/24"}, ann("192.168.1.1", "02:00:00:00:00:01"), "192.168.1.1")
	b := a.DeepCopy()
	b.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	b.ResourceVersion = "2"
	if relevantChange(a, b) {
		t.Error("a status heartbeat is not relevant")
	}
	for _, mod := range []func(*corev1.Node){
		func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.42.8.0/24"} },
		func(n *corev1.Node) { n.Annotations[VtepMACAnnotation] = "02:00:00:00:00:99" },
		func(n *corev1.Node) { n.Annotations[PublicIPAnnotation] = "192.168.1.99" },
		func(n *corev1.Node) { n.Status.Addresses[1].Address = "192.168.1.99" },
	} {
		c := a.DeepCopy()
		mod(c)
		if !relevantChange(a, c) {
			t.Errorf("not relevant: %+v", c)
		}
	}
}
