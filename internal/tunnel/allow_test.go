package tunnel

import (
	"net"
	"strings"
	"testing"
)

func TestNodeAllow(t *testing.T) {
	_, pods, _ := net.ParseCIDR("10.42.1.0/24")
	_, pods6, _ := net.ParseCIDR("fd00:42:1::/64")
	local := map[string]bool{"10.42.1.0": true, "10.42.1.1": true} // vxlan device, bridge gateway
	allow := nodeAllow(
		[]net.IP{net.ParseIP("192.168.1.10"), net.ParseIP("fd00::10")}, 10250,
		func() []*net.IPNet { return []*net.IPNet{pods, pods6} },
		func(ip net.IP) bool { return local[ip.String()] },
	)
	for _, tc := range []struct {
		network, addr string
		want          bool
	}{
		{"tcp", "192.168.1.10:10250", true},
		{"tcp4", "192.168.1.10:10250", true},
		{"tcp6", "[fd00::10]:10250", true},
		{"tcp", "127.0.0.1:10250", true},
		{"tcp", "[::1]:10250", true},
		{"tcp", "192.168.1.10:22", false},    // not the kubelet port
		{"tcp", "127.0.0.1:2379", false},     // not the kubelet port
		{"tcp", "192.168.1.11:10250", false}, // another host's kubelet
		{"tcp", "10.42.1.5:8080", true},      // a pod
		{"tcp", "[fd00:42:1::5]:80", true},   // a pod, IPv6
		{"tcp", "10.42.1.1:22", false},       // the node's own address in the pod CIDR
		{"tcp", "10.42.1.0:10250", false},
		{"tcp", "10.42.2.5:8080", false}, // another node's pod
		{"udp", "10.42.1.5:53", false},
		{"unix", "/run/containerd/containerd.sock", false},
		{"tcp", "localhost:10250", false}, // names are not resolved
		{"tcp", "10.42.1.5", false},
		{"tcp", "10.42.1.5:http", false},
	} {
		if got := allow(tc.network, tc.addr); got != tc.want {
			t.Errorf("allow(%s, %s) = %v, want %v", tc.network, tc.addr, got, tc.want)
		}
	}
}

func TestNodeAllowWithoutPodCIDR(t *testing.T) {
	// Before the node has a pod CIDR (nil func, or one returning nothing)
	// only the kubelet is reachable.
	for _, podCIDRs := range []func() []*net.IPNet{nil, func() []*net.IPNet { return nil }} {
		allow := NodeAllow([]net.IP{net.ParseIP("192.168.1.10")}, 10250, podCIDRs)
		if !allow("tcp", "192.168.1.10:10250") {
			t.Error("kubelet refused")
		}
		if allow("tcp", "10.42.1.5:8080") {
			t.Error("pod address allowed without a pod CIDR")
		}
	}
}

func TestHandshakeErrorSaysWhatToCheck(t *testing.T) {
	for status, want := range map[int]string{
		401: "check the agent's token",
		403: "forbade",
		409: "another node holds it",
		500: "500 Internal Server Error",
	} {
		msg := (&HandshakeError{Status: status, Msg: "why"}).Error()
		if !strings.Contains(msg, want) || !strings.Contains(msg, "why") {
			t.Errorf("%d: %q lacks %q", status, msg, want)
		}
	}
}
