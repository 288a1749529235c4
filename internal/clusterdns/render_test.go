package clusterdns

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Addresses: addrs}}
}

func internal(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func TestRenderNodeHosts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []*corev1.Node
		want  string
	}{
		{"none", nil, ""},
		{"one", []*corev1.Node{node("server", internal("10.0.0.1"))}, "10.0.0.1 server\n"},
		{
			"sorted by name, not by address or arrival",
			[]*corev1.Node{node("b", internal("10.0.0.1")), node("a", internal("10.0.0.9")), node("c", internal("10.0.0.5"))},
			"10.0.0.9 a\n10.0.0.1 b\n10.0.0.5 c\n",
		},
		{
			"only internal addresses; a node without one is left out",
			[]*corev1.Node{
				node("a", corev1.NodeAddress{Type: corev1.NodeHostName, Address: "a"}, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.1"}, internal("10.0.0.1")),
				node("new"),
			},
			"10.0.0.1 a\n",
		},
		{
			"dual stack: one line per family, repeats dropped",
			[]*corev1.Node{node("a", internal("10.0.0.1"), internal("fd00::1"), internal("10.0.0.1"))},
			"10.0.0.1 a\nfd00::1 a\n",
		},
	} {
		if got := renderNodeHosts(tc.nodes); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func cm(data map[string]string, binary map[string][]byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{Data: data, BinaryData: binary}
}

func TestConfigHash(t *testing.T) {
	base := configHash(cm(map[string]string{"Corefile": "c", "NodeHosts": "h"}, nil), nil)
	if len(base) != 16 {
		t.Fatalf("hash %q: want 16 hex digits", base)
	}
	for _, tc := range []struct {
		name         string
		coredns, cus *corev1.ConfigMap
		same         bool
	}{
		{"same content, new maps", cm(map[string]string{"NodeHosts": "h", "Corefile": "c"}, nil), nil, true},
		{"a value changes", cm(map[string]string{"Corefile": "c", "NodeHosts": "h2"}, nil), nil, false},
		{"a key is added", cm(map[string]string{"Corefile": "c", "NodeHosts": "h", "x": ""}, nil), nil, false},
		{"coredns-custom appears empty", cm(map[string]string{"Corefile": "c", "NodeHosts": "h"}, nil), cm(nil, nil), false},
		{"a key moves from one ConfigMap to the other", cm(map[string]string{"Corefile": "c"}, nil), cm(map[string]string{"NodeHosts": "h"}, nil), false},
		{"a text key becomes binary", cm(map[string]string{"Corefile": "c"}, map[string][]byte{"NodeHosts": []byte("h")}), nil, false},
		{"keys and values do not run together", cm(map[string]string{"Corefile": "cNodeHosts", "": "h"}, nil), nil, false},
	} {
		got := configHash(tc.coredns, tc.cus)
		if (got == base) != tc.same {
			t.Errorf("%s: hash %s, base %s, want same=%v", tc.name, got, base, tc.same)
		}
	}
	custom := cm(map[string]string{"a.override": "log", "b.server": "example.org { whoami }"}, nil)
	if configHash(nil, custom) != configHash(nil, cm(map[string]string{"b.server": "example.org { whoami }", "a.override": "log"}, nil)) {
		t.Error("map order changed the hash")
	}
}

func TestNeedsNudge(t *testing.T) {
	now := metav1.Now()
	pod := func(node string, annotations map[string]string, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns-1", Annotations: annotations}, Spec: corev1.PodSpec{NodeName: node}}
		if deleting {
			p.DeletionTimestamp = &now
		}
		return p
	}
	const hash = "0123456789abcdef"
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"running, no annotation yet", pod("n", nil, false), true},
		{"older hash", pod("n", map[string]string{HashAnnotation: "old"}, false), true},
		{"current hash", pod("n", map[string]string{HashAnnotation: hash}, false), false},
		{"not scheduled yet", pod("", map[string]string{HashAnnotation: "old"}, false), false},
		{"being deleted", pod("n", map[string]string{HashAnnotation: "old"}, true), false},
	} {
		if got := needsNudge(tc.pod, hash); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
