package killall

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/skiff-k8s/skiff/internal/overlay"
)

func needRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("integration test: needs root (run it with -short to skip it)")
	}
}

// inNewNetns runs fn on a thread of its own in a fresh network namespace;
// the commands fn runs inherit it, so the host is never touched.
func inNewNetns(t *testing.T, fn func()) {
	t.Helper()
	needRoot(t)
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
		ns, err := netns.New()
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

func run(t *testing.T, cmd string, args ...string) {
	t.Helper()
	if out, err := exec.Command(cmd, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", cmd, strings.Join(args, " "), err, out)
	}
}

func save(t *testing.T, cmd string) string {
	out, err := exec.Command(cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
	return string(out)
}

func TestIntegrationRemovesOnlySkiffsLinksAndChains(t *testing.T) {
	inNewNetns(t, func() {
		// Links: the pod bridge with a veth on it, an overlay link, and
		// others' links that must stay.
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "cni0"}}
		if err := netlink.LinkAdd(br); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vethpod1", MasterIndex: br.Attrs().Index}, PeerName: "eth0pod"}); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkAdd(&netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: "flannel.1"}, VxlanId: 1, Port: 8472}); err != nil {
			t.Fatal(err)
		}
		docker := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "docker0"}}
		if err := netlink.LinkAdd(docker); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vethdock", MasterIndex: docker.Attrs().Index}, PeerName: "eth0dock"}); err != nil {
			t.Fatal(err)
		}

		// Chains: skiff's, kube-proxy's, the kubelet's, portmap's, and
		// Docker's, with their jumps.
		for _, cmd := range []string{"iptables", "ip6tables"} {
			if _, err := exec.LookPath(cmd); err != nil {
				continue
			}
			for _, spec := range [][]string{
				{"-t", "nat", "-N", "SKIFF-POSTROUTING"},
				{"-t", "nat", "-A", "SKIFF-POSTROUTING", "-j", "MASQUERADE"},
				{"-t", "nat", "-I", "POSTROUTING", "-m", "comment", "--comment", "skiff: pod masquerade", "-j", "SKIFF-POSTROUTING"},
				{"-N", "SKIFF-FORWARD"},
				{"-I", "FORWARD", "-j", "SKIFF-FORWARD"},
				{"-t", "nat", "-N", "KUBE-SERVICES"},
				{"-t", "nat", "-N", "KUBE-SVC-ABCDEF"},
				{"-t", "nat", "-N", "KUBE-SEP-ABCDEF"},
				{"-t", "nat", "-N", "KUBE-MARK-MASQ"},
				{"-t", "nat", "-A", "KUBE-MARK-MASQ", "-j", "MARK", "--set-xmark", "0x4000/0x4000"},
				{"-t", "nat", "-A", "KUBE-SEP-ABCDEF", "-j", "KUBE-MARK-MASQ"},
				{"-t", "nat", "-A", "KUBE-SVC-ABCDEF", "-m", "comment", "--comment", "default/web:http -> x", "-j", "KUBE-SEP-ABCDEF"},
				{"-t", "nat", "-A", "KUBE-SERVICES", "-p", "tcp", "--dport", "80", "-j", "KUBE-SVC-ABCDEF"},
				{"-t", "nat", "-I", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
				{"-t", "nat", "-I", "OUTPUT", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
				{"-N", "KUBE-FORWARD"},
				{"-I", "FORWARD", "-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD"},
				{"-N", "KUBE-FIREWALL"},
				{"-I", "INPUT", "-j", "KUBE-FIREWALL"},
				{"-t", "mangle", "-N", "KUBE-KUBELET-CANARY"},
				{"-t", "mangle", "-N", "KUBE-PROXY-CANARY"},
				{"-t", "nat", "-N", "CNI-HOSTPORT-DNAT"},
				{"-t", "nat", "-N", "CNI-DN-1234"},
				{"-t", "nat", "-A", "CNI-HOSTPORT-DNAT", "-g", "CNI-DN-1234"},
				{"-t", "nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"},
				{"-t", "nat", "-N", "DOCKER"},
				{"-t", "nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"},
				{"-N", "DOCKER"},
				{"-N", "DOCKER-USER"},
				{"-A", "DOCKER-USER", "-j", "RETURN"},
				{"-A", "FORWARD", "-j", "DOCKER-USER"},
				{"-A", "FORWARD", "-o", "docker0", "-j", "DOCKER"},
				{"-P", "FORWARD", "DROP"},
			} {
				run(t, cmd, spec...)
			}
		}

		deleted, err := removeLinks("cni0")
		if err != nil {
			t.Errorf("removeLinks: %v", err)
		}
		t.Logf("deleted links %v", deleted)
		for _, gone := range []string{"cni0", "vethpod1", "eth0pod", "flannel.1"} {
			if _, err := netlink.LinkByName(gone); err == nil {
				t.Errorf("%s is still there", gone)
			}
		}
		for _, kept := range []string{"docker0", "vethdock", "eth0dock", "lo"} {
			if _, err := netlink.LinkByName(kept); err != nil {
				t.Errorf("%s was deleted: %v", kept, err)
			}
		}

		counts, err := removeChains()
		if err != nil {
			t.Errorf("removeChains: %v", err)
		}
		if counts["iptables"] != 12 {
			t.Errorf("removed %d chains with iptables, want 12", counts["iptables"])
		}
		for _, cmd := range []string{"iptables-save", "ip6tables-save"} {
			if _, err := exec.LookPath(cmd); err != nil {
				continue
			}
			left := save(t, cmd)
			for _, gone := range []string{"SKIFF-", "KUBE-", "CNI-"} {
				if strings.Contains(left, gone) {
					t.Errorf("%s: %s left:\n%s", cmd, gone, left)
				}
			}
			for _, kept := range []string{
				":FORWARD DROP",
				"-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
				"-A FORWARD -j DOCKER-USER",
				"-A FORWARD -o docker0 -j DOCKER",
				"-A DOCKER-USER -j RETURN",
			} {
				if !strings.Contains(left, kept) {
					t.Errorf("%s: %q was removed:\n%s", cmd, kept, left)
				}
			}
		}
		// Again: nothing left to do, no error.
		if counts, err := removeChains(); err != nil || counts["iptables"] != 0 {
			t.Errorf("second run: %v, %v", counts, err)
		}
		if deleted, err := removeLinks("cni0"); err != nil || len(deleted) != 0 {
			t.Errorf("second run: %v, %v", deleted, err)
		}
	})
}

// The overlay's vxlan device and its host-gw routes (on a host interface,
// marked with the overlay's route protocol) go; others' routes stay.
func TestIntegrationRemovesOverlay(t *testing.T) {
	inNewNetns(t, func() {
		// A veth stands for the host's interface (this kernel may lack dummy).
		eth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth9"}, PeerName: "eth9peer"}
		if err := netlink.LinkAdd(eth); err != nil {
			t.Fatal(err)
		}
		if peer, err := netlink.LinkByName("eth9peer"); err != nil || netlink.LinkSetUp(peer) != nil {
			t.Fatalf("eth9peer: %v", err)
		}
		if err := netlink.AddrAdd(eth, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(192, 0, 2, 1), Mask: net.CIDRMask(24, 32)}}); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(eth); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkAdd(&netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: overlay.DeviceName}, VxlanId: overlay.VNI, Port: overlay.Port}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []netlink.Route{
			{LinkIndex: eth.Attrs().Index, Dst: &net.IPNet{IP: net.IPv4(10, 42, 9, 0), Mask: net.CIDRMask(24, 32)}, Gw: net.IPv4(192, 0, 2, 9), Protocol: overlay.RouteProtocol},
			{LinkIndex: eth.Attrs().Index, Dst: &net.IPNet{IP: net.IPv4(198, 51, 100, 0), Mask: net.CIDRMask(24, 32)}, Gw: net.IPv4(192, 0, 2, 8)},
		} {
			if err := netlink.RouteAdd(&r); err != nil {
				t.Fatalf("route %v: %v", r, err)
			}
		}
		removed, err := removeOverlay()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(removed, ", "); got != "skiff.vxlan, route 10.42.9.0/24 via 192.0.2.9" {
			t.Errorf("removed %s", got)
		}
		routes, _ := netlink.RouteList(eth, netlink.FAMILY_V4)
		var left []string
		for _, r := range routes {
			left = append(left, r.Dst.String())
		}
		if strings.Join(left, " ") != "192.0.2.0/24 198.51.100.0/24" {
			t.Errorf("routes left: %v", left)
		}
		if removed, err := removeOverlay(); err != nil || len(removed) != 0 {
			t.Errorf("second run: %v, %v", removed, err)
		}
	})
}

// A fake shim (argv0 containerd-shim-runc-v2, -address a socket of the
// test's own) with a process tree under it, and a decoy shim of "another
// containerd": killContainers kills the first tree, whole, and spares the
// decoy.
func TestIntegrationKillsShimTrees(t *testing.T) {
	needRoot(t)
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	shim := func(address string) *exec.Cmd {
		// bash's exec -a sets argv0; the fake shim starts a tree two
		// levels deep (sleep; bash, sleep).
		script := `exec -a containerd-shim-runc-v2 bash -c 'sleep 1000 & bash -c "sleep 1000 & wait" & wait' -namespace k8s.io -id test -address "$1"`
		cmd := exec.Command("bash", "-c", script, "bash", address)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	victim := shim(sock)
	decoy := shim(sock + ".other")
	defer func() {
		syscall.Kill(-decoy.Process.Pid, syscall.SIGKILL)
		syscall.Kill(-victim.Process.Pid, syscall.SIGKILL)
		decoy.Wait()
	}()
	victimDone := make(chan error, 1)
	go func() { victimDone <- victim.Wait() }()

	// Wait for both trees to be complete (shim, sleep, bash, sleep): on a
	// loaded machine the decoy's children may come well after the victim's.
	sel := selection{self: os.Getpid(), socket: sock}
	before := completeTree(t, sel)
	if before.shims[0] != victim.Process.Pid {
		t.Fatalf("picked shim %d, started %d", before.shims[0], victim.Process.Pid)
	}
	decoyTree := completeTree(t, selection{self: os.Getpid(), socket: sock + ".other"})

	shims, containers, err := killContainers(sel)
	if err != nil || shims != 1 || containers != 3 {
		t.Fatalf("killed %d shims, %d processes, %v", shims, containers, err)
	}
	select {
	case <-victimDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the shim was not reaped")
	}
	for _, pid := range append(before.shims, before.containers...) {
		if err := unix.Kill(pid, 0); err == nil {
			if p, err := readProc(procRoot, pid); err == nil && p.state != 'Z' {
				t.Errorf("pid %d still runs", pid)
			}
		}
	}
	for _, pid := range append(decoyTree.shims, decoyTree.containers...) {
		if p, err := readProc(procRoot, pid); err != nil || p.state == 'Z' || p.state == 'T' {
			t.Errorf("decoy pid %d was touched", pid)
		}
	}
}

// completeTree waits until sel finds one fake shim with its three
// descendants.
func completeTree(t *testing.T, sel selection) targets {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := selectTargets(readProcs(procRoot), sel)
		if len(got.shims) == 1 && len(got.containers) == 3 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake shim tree for %s not found: %+v", sel.socket, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Mounts under a root go, deepest first, including stacked ones; a mount
// outside stays.
func TestIntegrationUnmountsUnderRoot(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "agent", "containerd")
	deep := filepath.Join(root, "a", "b")
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{deep, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mount := func(p string) {
		if err := unix.Mount("tmpfs", p, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatalf("mount %s: %v", p, err)
		}
	}
	mount(root)
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	mount(deep)
	mount(deep) // stacked
	mount(outside)
	defer unix.Unmount(outside, unix.MNT_DETACH)
	defer unix.Unmount(root, unix.MNT_DETACH)

	n, err := unmountUnder(mountRoots(dir))
	if err != nil || n != 3 {
		t.Fatalf("unmounted %d, %v; want 3", n, err)
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(b), root) {
		t.Errorf("mounts left under %s", root)
	}
	if !strings.Contains(string(b), outside) {
		t.Errorf("the mount outside was unmounted")
	}
}
