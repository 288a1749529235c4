package network

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"k8s.io/client-go/kubernetes/fake"
)

// inNewNetns runs fn on a thread of its own in a fresh network namespace,
// so the host's links and iptables rules are never touched. Commands fn
// runs inherit the namespace from the thread.
func inNewNetns(t *testing.T, fn func()) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("integration test: needs root (run it with -short to skip it)")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Fatal("integration test: iptables not found; run scripts/deps")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		orig, err := netns.Get()
		if err != nil {
			t.Error(err)
			return
		}
		defer orig.Close()
		ns, err := netns.New() // also moves this thread into it
		if err != nil {
			t.Error(err)
			return
		}
		defer ns.Close()
		if !ns.Equal(orig) {
			fn()
		}
		_ = netns.Set(orig)
	}()
	<-done
}

func iptablesSave(t *testing.T, cmd string) string {
	out, err := exec.Command(cmd + "-save").CombinedOutput()
	if err != nil {
		t.Fatalf("%s-save: %v: %s", cmd, err, out)
	}
	return string(out)
}

func TestIntegrationStartTwiceThenTeardown(t *testing.T) {
	inNewNetns(t, func() {
		dir := t.TempDir()
		// Something of somebody else's, which must survive.
		if out, err := exec.Command("iptables", "-A", "FORWARD", "-s", "192.0.2.0/24", "-j", "ACCEPT").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "cni0"}}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ { // a restart must not add anything twice
			n, err := New(Config{ClusterCIDR: "10.42.0.0/16", NodeName: "n1", CNIConfDir: dir, Client: fake.NewClientset()})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Start(context.Background()); err != nil {
				t.Fatalf("start %d: %v", i+1, err)
			}
			if err := n.Ready(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := n.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		if strings.TrimSpace(string(b)) != "1" {
			t.Errorf("ip_forward = %q", b)
		}
		saved := iptablesSave(t, "iptables")
		t.Logf("after two starts:\n%s", saved)
		for _, want := range []string{
			`-A POSTROUTING -m comment --comment "skiff: pod masquerade" -j SKIFF-POSTROUTING`,
			`-A SKIFF-POSTROUTING -s 10.42.0.0/16 -d 10.42.0.0/16 -m comment --comment "skiff: pod to pod, no masquerade" -j RETURN`,
			`-A SKIFF-POSTROUTING -s 10.42.0.0/16 -m comment --comment "skiff: masquerade pods leaving the cluster network" -j MASQUERADE`,
			`-A SKIFF-FORWARD -s 10.42.0.0/16 -m comment --comment "skiff: forward from pods" -j ACCEPT`,
			`-A SKIFF-FORWARD -d 10.42.0.0/16 -m comment --comment "skiff: forward to pods" -j ACCEPT`,
		} {
			if c := strings.Count(saved, want); c != 1 {
				t.Errorf("%d times, want once: %s", c, want)
			}
		}
		if c := strings.Count(saved, "-A SKIFF-"); c != 5 {
			t.Errorf("%d rules in skiff's chains, want 5", c)
		}
		fwd, _ := exec.Command("iptables", "-S", "FORWARD").CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(fwd)), "\n")
		if len(lines) < 3 || !strings.Contains(lines[1], "-j SKIFF-FORWARD") {
			t.Errorf("the jump to SKIFF-FORWARD is not first in FORWARD:\n%s", fwd)
		}

		// Something removed a rule: the next check puts it back.
		if out, err := exec.Command("iptables", "-t", "nat", "-F", "SKIFF-POSTROUTING").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		cidrs, _ := ParseClusterCIDR("10.42.0.0/16")
		if err := ensureAllRules(cidrs, false); err != nil {
			t.Fatal(err)
		}
		if c := strings.Count(iptablesSave(t, "iptables"), "-A SKIFF-POSTROUTING"); c != 3 {
			t.Errorf("after resync %d rules in SKIFF-POSTROUTING, want 3", c)
		}

		os.WriteFile(dir+"/"+ConflistName, []byte("{}"), 0o644)
		if err := Teardown(Config{CNIConfDir: dir}); err != nil {
			t.Fatalf("teardown: %v", err)
		}
		saved = iptablesSave(t, "iptables")
		if strings.Contains(saved, "SKIFF") {
			t.Errorf("skiff's rules left after teardown:\n%s", saved)
		}
		if !strings.Contains(saved, "-A FORWARD -s 192.0.2.0/24 -j ACCEPT") {
			t.Errorf("teardown removed someone else's rule:\n%s", saved)
		}
		if _, err := netlink.LinkByName("cni0"); err == nil {
			t.Error("cni0 left after teardown")
		}
		if _, err := os.Stat(dir + "/" + ConflistName); !os.IsNotExist(err) {
			t.Errorf("conflist left after teardown: %v", err)
		}
		if err := Teardown(Config{CNIConfDir: dir}); err != nil {
			t.Errorf("second teardown: %v", err)
		}
	})
}

func TestIntegrationIPv6(t *testing.T) {
	inNewNetns(t, func() {
		if _, err := exec.LookPath("ip6tables"); err != nil {
			t.Skip("ip6tables not installed")
		}
		n, err := New(Config{ClusterCIDR: "10.42.0.0/16,fd00:42::/56", NodeName: "n1", CNIConfDir: t.TempDir(), Client: fake.NewClientset()})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		n.Stop(context.Background())
		saved := iptablesSave(t, "ip6tables")
		if !strings.Contains(saved, "-A SKIFF-POSTROUTING -s fd00:42::/56 -d ff00::/8") {
			t.Errorf("IPv6 rules missing:\n%s", saved)
		}
		if err := Teardown(Config{}); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(iptablesSave(t, "ip6tables")+iptablesSave(t, "iptables"), "SKIFF") {
			t.Error("rules left after teardown")
		}
	})
}
