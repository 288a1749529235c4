package overlay

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"k8s.io/client-go/kubernetes/fake"
)

func TestNewRejectsBadConfig(t *testing.T) {
	client := fake.NewClientset()
	good := Config{Backend: BackendVXLAN, NodeName: "n", NodeIP: net.ParseIP("192.168.1.1"), ClusterCIDR: "10.42.0.0/16", Client: client}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Backend = "wireguard" }, `unknown flannel backend "wireguard": use one of vxlan, host-gw, none`},
		{func(c *Config) { c.Backend = "VXLAN" }, "unknown flannel backend"},
		{func(c *Config) { c.NodeName = "" }, "no node name"},
		{func(c *Config) { c.Client = nil }, "no API client"},
		{func(c *Config) { c.ClusterCIDR = "nope" }, "nope"},
		{func(c *Config) { c.ClusterCIDR = "fd00:42::/56" }, "IPv4 only"},
		{func(c *Config) { c.NodeIP = net.ParseIP("fd00::1") }, "IPv4 only"},
		{func(c *Config) { c.Backend = BackendHostGW; c.NodeIP = net.ParseIP("fd00::1") }, "the host-gw overlay works over IPv4 only"},
	} {
		c := good
		tc.mod(&c)
		_, err := New(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", c, err, tc.want)
		}
	}
	for _, b := range Backends {
		if err := ValidateBackend(b); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
}

// Backend none needs nothing else, touches nothing and has no MTU.
func TestBackendNone(t *testing.T) {
	o, err := New(Config{Backend: BackendNone})
	if err != nil {
		t.Fatal(err)
	}
	if o.MTU() != 0 || o.Backend() != BackendNone || o.NodeIP() != nil {
		t.Errorf("MTU %d, backend %s, IP %v", o.MTU(), o.Backend(), o.NodeIP())
	}
	ctx := context.Background()
	if err := o.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// The MTU comes from the parent interface, found by the node IP or by
// name; loopback is the interface every namespace has (65536).
func TestMTUFromParent(t *testing.T) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatalf("no loopback link to read: %v", err)
	}
	base := lo.Attrs().MTU
	for backend, want := range map[string]int{BackendVXLAN: base - 50, BackendHostGW: base, "": base - 50} {
		o, err := New(Config{Backend: backend, NodeName: "n", NodeIP: net.ParseIP("127.0.0.1"), ClusterCIDR: "10.42.0.0/16", Client: fake.NewClientset()})
		if err != nil {
			t.Fatalf("%s: %v", backend, err)
		}
		if o.MTU() != want || o.parent.Attrs().Name != "lo" {
			t.Errorf("%s: MTU %d on %s, want %d on lo", backend, o.MTU(), o.parent.Attrs().Name, want)
		}
	}
	o, err := New(Config{Backend: BackendVXLAN, NodeName: "n", Interface: "lo", ClusterCIDR: "10.42.0.0/16", Client: fake.NewClientset()})
	if err == nil {
		t.Errorf("lo has no global address, yet New found %v", o.NodeIP())
	}
	if _, err := New(Config{Backend: BackendVXLAN, NodeName: "n", NodeIP: net.ParseIP("192.0.2.77"), ClusterCIDR: "10.42.0.0/16", Client: fake.NewClientset()}); err == nil ||
		!strings.Contains(err.Error(), "no interface of this host has the node IP 192.0.2.77") {
		t.Errorf("a node IP not on this host: %v", err)
	}
}

func TestVtepMAC(t *testing.T) {
	a, b := vtepMAC("node-a"), vtepMAC("node-b")
	if a.String() != vtepMAC("node-a").String() {
		t.Error("not stable")
	}
	if a.String() == b.String() {
		t.Error("two nodes, one MAC")
	}
	for _, m := range []net.HardwareAddr{a, b} {
		if len(m) != 6 || m[0]&0x01 != 0 || m[0]&0x02 == 0 {
			t.Errorf("%s is not a locally administered unicast MAC", m)
		}
	}
}
