package network

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestConflistForPodCIDR(t *testing.T) {
	b, err := Conflist([]string{"10.42.3.0/24"}, "cni0", 1450, "/var/lib/cni/networks")
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	if conf.CNIVersion != "1.0.0" || conf.Name != NetworkName || len(conf.Plugins) != 3 {
		t.Fatalf("header or plugins wrong:\n%s", b)
	}
	br := conf.Plugins[0]
	want := map[string]any{
		"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
		"hairpinMode": true, "mtu": float64(1450),
	}
	for k, v := range want {
		if br[k] != v {
			t.Errorf("bridge %s = %v, want %v", k, br[k], v)
		}
	}
	ipam := br["ipam"].(map[string]any)
	if ipam["type"] != "host-local" || ipam["dataDir"] != "/var/lib/cni/networks" {
		t.Errorf("ipam = %v", ipam)
	}
	ranges, _ := json.Marshal(ipam["ranges"])
	if string(ranges) != `[[{"subnet":"10.42.3.0/24"}]]` {
		t.Errorf("ranges = %s", ranges)
	}
	routes, _ := json.Marshal(ipam["routes"])
	if string(routes) != `[{"dst":"0.0.0.0/0"}]` {
		t.Errorf("routes = %s", routes)
	}
	pm := conf.Plugins[1]
	if pm["type"] != "portmap" || pm["snat"] != true || !reflect.DeepEqual(pm["capabilities"], map[string]any{"portMappings": true}) {
		t.Errorf("portmap = %v", pm)
	}
	bw := conf.Plugins[2]
	if bw["type"] != "bandwidth" || !reflect.DeepEqual(bw["capabilities"], map[string]any{"bandwidth": true}) {
		t.Errorf("bandwidth = %v", bw)
	}
}

func TestConflistDualStackAndBadInput(t *testing.T) {
	b, err := Conflist([]string{"10.42.0.0/24", "fd00:42::/64"}, "cni0", 0, "/d")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, w := range []string{`"subnet": "fd00:42::/64"`, `"dst": "::/0"`, `"dst": "0.0.0.0/0"`} {
		if !strings.Contains(s, w) {
			t.Errorf("missing %s in\n%s", w, s)
		}
	}
	if strings.Contains(s, `"mtu"`) {
		t.Errorf("mtu 0 should be left out:\n%s", s)
	}
	if _, err := Conflist(nil, "cni0", 0, "/d"); err == nil {
		t.Error("want an error for no pod CIDR")
	}
	if _, err := Conflist([]string{"10.42.0.0"}, "cni0", 0, "/d"); err == nil {
		t.Error("want an error for a bad pod CIDR")
	}
}

func TestParseClusterCIDR(t *testing.T) {
	for _, ok := range []string{"10.42.0.0/16", "10.42.0.0/16, fd00:42::/56", "fd00::/48"} {
		if _, err := ParseClusterCIDR(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "10.42.0.0", "10.42.0.0/16,10.44.0.0/16", "nope"} {
		if _, err := ParseClusterCIDR(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestRules(t *testing.T) {
	cidrs, _ := ParseClusterCIDR("10.42.0.0/16")
	rules, jumps := Rules(cidrs, true)
	got := map[string][]string{}
	for _, r := range rules {
		got[r.Table+"/"+r.Chain] = append(got[r.Table+"/"+r.Chain], strings.Join(r.Spec, " "))
	}
	want := map[string][]string{
		"nat/SKIFF-POSTROUTING": {
			"-s 10.42.0.0/16 -d 10.42.0.0/16 -m comment --comment skiff: pod to pod, no masquerade -j RETURN",
			"-s 10.42.0.0/16 -d 224.0.0.0/4 -m comment --comment skiff: multicast, no masquerade -j RETURN",
			"-s 10.42.0.0/16 -m comment --comment skiff: masquerade pods leaving the cluster network -j MASQUERADE --random-fully",
		},
		"filter/SKIFF-FORWARD": {
			"-s 10.42.0.0/16 -m comment --comment skiff: forward from pods -j ACCEPT",
			"-d 10.42.0.0/16 -m comment --comment skiff: forward to pods -j ACCEPT",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rules:\n%v\nwant\n%v", got, want)
	}
	if len(jumps) != 2 || jumps[0].Chain != "POSTROUTING" || RuleTarget(jumps[0].Spec) != PostroutingChain ||
		jumps[1].Chain != "FORWARD" || RuleTarget(jumps[1].Spec) != ForwardChain {
		t.Errorf("jumps: %v", jumps)
	}
	rules, _ = Rules(cidrs, false)
	if strings.Contains(strings.Join(rules[2].Spec, " "), "random") {
		t.Error("--random-fully used when unsupported")
	}
	v6, _ := ParseClusterCIDR("fd00:42::/56")
	rules, _ = Rules(v6, false)
	if rules[1].Spec[3] != "ff00::/8" {
		t.Errorf("IPv6 multicast rule: %v", rules[1].Spec)
	}
}

func TestSplitRule(t *testing.T) {
	cases := map[string][]string{
		`-A FORWARD -m comment --comment "skiff: pod forwarding" -j SKIFF-FORWARD`: {"-A", "FORWARD", "-m", "comment", "--comment", "skiff: pod forwarding", "-j", "SKIFF-FORWARD"},
		`-A KUBE-SVC-X -m comment --comment "a \"quoted\" \\ one" -g KUBE-SEP-Y`:   {"-A", "KUBE-SVC-X", "-m", "comment", "--comment", `a "quoted" \ one`, "-g", "KUBE-SEP-Y"},
		`-N DOCKER`:         {"-N", "DOCKER"},
		`-A X --comment ""`: {"-A", "X", "--comment", ""},
	}
	for in, want := range cases {
		got, err := SplitRule(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("SplitRule(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := SplitRule(`-A X --comment "open`); err == nil {
		t.Error("want an error for an open quote")
	}
	if RuleTarget([]string{"-A", "X", "-g", "Y"}) != "Y" || RuleTarget([]string{"-A", "X"}) != "" {
		t.Error("RuleTarget")
	}
}

// The conflist appears once the node gets a pod CIDR, with that CIDR, and
// follows a change of it.
func TestWatchNodeWritesConflist(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net.d")
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	n, err := New(Config{ClusterCIDR: "10.42.0.0/16", NodeName: "n1", CNIConfDir: dir, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.watchNode(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	path := filepath.Join(dir, ConflistName)
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(path); err == nil {
		t.Fatal("conflist written before the node had a pod CIDR")
	}
	setCIDR := func(c string) {
		node, _ := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		node.Spec.PodCIDR, node.Spec.PodCIDRs = c, []string{c}
		if _, err := client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(want string) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), want) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		b, _ := os.ReadFile(path)
		t.Fatalf("conflist never had %s: %s", want, b)
	}
	setCIDR("10.42.7.0/24")
	waitFor(`"subnet": "10.42.7.0/24"`)
	setCIDR("10.42.9.0/24")
	waitFor(`"subnet": "10.42.9.0/24"`)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left other files: %v", entries)
	}
	select {
	case err := <-n.Failed():
		t.Fatalf("failed: %v", err)
	default:
	}
}

// Config.MTU (the overlay's) goes into the bridge plugin's "mtu".
func TestConflistMTUFromConfig(t *testing.T) {
	dir := t.TempDir()
	n, err := New(Config{ClusterCIDR: "10.42.0.0/16", NodeName: "n1", CNIConfDir: dir, Client: fake.NewClientset(), MTU: 1350})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.writeConflist([]string{"10.42.7.0/24"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, ConflistName))
	var conf struct {
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &conf); err != nil || len(conf.Plugins) == 0 {
		t.Fatalf("%v:\n%s", err, b)
	}
	if mtu := conf.Plugins[0]["mtu"]; mtu != float64(1350) {
		t.Errorf("bridge mtu = %v, want 1350:\n%s", mtu, b)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	client := fake.NewClientset()
	good := Config{ClusterCIDR: "10.42.0.0/16", NodeName: "n", CNIConfDir: "/x", Client: client}
	if _, err := New(good); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.ClusterCIDR = "x" },
		func(c *Config) { c.NodeName = "" },
		func(c *Config) { c.CNIConfDir = "" },
		func(c *Config) { c.Client = nil },
		func(c *Config) { c.MTU = -1 },
	} {
		c := good
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("want an error for %+v", c)
		}
	}
}
