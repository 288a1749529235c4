package overlay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

// These tests build two "hosts" — network namespaces joined by a veth pair
// (192.168.77.1 and .2, MTU 1400) — each with a pod bridge cni0 and a "pod"
// (a third namespace on that bridge, 10.42.<n>.5), run an Overlay in each
// host through a netlink handle of that namespace, and prove that a pod
// reaches the other host's pod. The host's own namespace is never touched.

func needRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("integration test: needs root to create network namespaces (run it as root, or with -short to skip it)")
	}
}

// newNS makes a network namespace, closed (and so destroyed, with its
// links) when the test ends. The calling goroutine stays where it was.
func newNS(t *testing.T) netns.NsHandle {
	t.Helper()
	var ns netns.NsHandle
	var err error
	inNS(t, netns.None(), func() { ns, err = netns.New() })
	if err != nil {
		t.Fatalf("new netns: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// inNS runs fn on a thread of its own in ns (in a fresh namespace it makes
// itself when ns is netns.None() and fn calls netns.New): sockets fn opens
// and files under /proc/sys/net it writes are that namespace's.
func inNS(t *testing.T, ns netns.NsHandle, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			t.Error(err)
			return
		}
		defer orig.Close()
		if ns.IsOpen() {
			if err := netns.Set(ns); err != nil {
				t.Error(err)
				return
			}
		}
		fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // else the thread dies with the goroutine
		}
	}()
	<-done
}

func handleIn(t *testing.T, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

type host struct {
	name   string // also its Node's name
	ns     netns.NsHandle
	h      *netlink.Handle
	ip     net.IP // on eth0
	pod    netns.NsHandle
	podIP  net.IP
	podNet string // its pod CIDR
}

const hostMTU = 1400

// twoHosts builds the two hosts described above; the pods' MTU is set later
// (as the CNI plugin would from the conflist), once the overlay's is known.
func twoHosts(t *testing.T) (a, b *host) {
	a = &host{name: "node-a", ip: net.IPv4(192, 168, 77, 1).To4(), podIP: net.IPv4(10, 42, 1, 5).To4(), podNet: "10.42.1.0/24"}
	b = &host{name: "node-b", ip: net.IPv4(192, 168, 77, 2).To4(), podIP: net.IPv4(10, 42, 2, 5).To4(), podNet: "10.42.2.0/24"}
	for _, x := range []*host{a, b} {
		x.ns, x.pod = newNS(t), newNS(t)
		x.h = handleIn(t, x.ns)
		lo, err := x.h.LinkByName("lo")
		must(t, "lo", err)
		must(t, "lo up", x.h.LinkSetUp(lo))
		inNS(t, x.ns, func() {
			if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
				t.Errorf("ip_forward: %v", err)
			}
		})
	}
	// The wire between the hosts.
	must(t, "veth a-b", a.h.LinkAdd(&netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: "eth0", MTU: hostMTU},
		PeerName:  "eth0", PeerNamespace: netlink.NsFd(int(b.ns)), PeerMTU: hostMTU,
	}))
	for _, x := range []*host{a, b} {
		eth0, err := x.h.LinkByName("eth0")
		must(t, "eth0", err)
		must(t, "eth0 address", x.h.AddrAdd(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: x.ip, Mask: net.CIDRMask(24, 32)}}))
		must(t, "eth0 up", x.h.LinkSetUp(eth0))

		// The pod bridge and a pod on it, as the CNI bridge plugin makes them.
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "cni0"}}
		must(t, "cni0", x.h.LinkAdd(br))
		_, podNet, _ := net.ParseCIDR(x.podNet)
		gw := net.IP(append([]byte(nil), podNet.IP.To4()...))
		gw[3] = 1
		must(t, "cni0 address", x.h.AddrAdd(br, &netlink.Addr{IPNet: &net.IPNet{IP: gw, Mask: podNet.Mask}}))
		must(t, "cni0 up", x.h.LinkSetUp(br))
		must(t, "pod veth", x.h.LinkAdd(&netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{Name: "vethpod", MasterIndex: br.Attrs().Index},
			PeerName:  "eth0", PeerNamespace: netlink.NsFd(int(x.pod)),
		}))
		veth, err := x.h.LinkByName("vethpod")
		must(t, "vethpod", err)
		must(t, "vethpod up", x.h.LinkSetUp(veth))
		ph := handleIn(t, x.pod)
		lo, err := ph.LinkByName("lo")
		must(t, "pod lo", err)
		must(t, "pod lo up", ph.LinkSetUp(lo))
		peth, err := ph.LinkByName("eth0")
		must(t, "pod eth0", err)
		must(t, "pod address", ph.AddrAdd(peth, &netlink.Addr{IPNet: &net.IPNet{IP: x.podIP, Mask: podNet.Mask}}))
		must(t, "pod eth0 up", ph.LinkSetUp(peth))
		must(t, "pod default route", ph.RouteAdd(&netlink.Route{Gw: gw}))
	}
	return a, b
}

// setPodMTU sets the pod's eth0 MTU, as the bridge plugin does from the
// conflist's "mtu".
func (x *host) setPodMTU(t *testing.T, mtu int) {
	ph := handleIn(t, x.pod)
	peth, err := ph.LinkByName("eth0")
	must(t, "pod eth0", err)
	must(t, "pod MTU", ph.LinkSetMTU(peth, mtu))
}

func clusterClient(a, b *host) kubernetes.Interface {
	n := func(x *host) *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: x.name},
			Spec:       corev1.NodeSpec{PodCIDR: x.podNet, PodCIDRs: []string{x.podNet}},
			Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: x.ip.String()}}},
		}
	}
	return fake.NewClientset(n(a), n(b))
}

func startOverlay(t *testing.T, x *host, backend string, client kubernetes.Interface) *Overlay {
	t.Helper()
	o, err := New(Config{Backend: backend, NodeName: x.name, NodeIP: x.ip, ClusterCIDR: "10.42.0.0/16", Client: client, Handle: x.h})
	must(t, "new overlay "+x.name, err)
	must(t, "start overlay "+x.name, o.Start(context.Background()))
	must(t, "overlay ready "+x.name, o.Ready(context.Background()))
	t.Cleanup(func() { o.Stop(context.Background()) })
	return o
}

func stop(t *testing.T, o *Overlay) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, "stop", o.Stop(ctx))
}

// eventually retries check until it returns nil, for up to 10s.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ownRoutesText(h *netlink.Handle) (string, error) {
	routes, err := ownRoutes(h)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, r := range routes {
		l := describeRoute(r)
		if link, err := h.LinkByIndex(r.LinkIndex); err == nil {
			l += " dev " + link.Attrs().Name
		}
		if r.Flags&int(netlink.FLAG_ONLINK) != 0 {
			l += " onlink"
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n"), nil
}

func wantRoutes(h *netlink.Handle, want string) func() error {
	return func() error {
		got, err := ownRoutesText(h)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("routes:\n%s\nwant:\n%s", got, want)
		}
		return nil
	}
}

// connect opens a TCP connection from one pod to the other and checks
// that it reached the listener from the pod's own address (not NATed) and
// that a payload bigger than one packet crosses both ways (the MTU fits).
func connect(t *testing.T, from, to *host) {
	t.Helper()
	var ln net.Listener
	var err error
	inNS(t, to.pod, func() { ln, err = net.Listen("tcp4", net.JoinHostPort(to.podIP.String(), "0")) })
	must(t, "listen in "+to.name+"'s pod", err)
	defer ln.Close()
	payload := bytes.Repeat([]byte("skiff overlay "), 1000) // 14 kB
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if ra := c.RemoteAddr().(*net.TCPAddr); !ra.IP.Equal(from.podIP) {
			served <- fmt.Errorf("connection from %s, want %s", ra.IP, from.podIP)
			return
		}
		buf := make([]byte, len(payload))
		if _, err := io.ReadFull(c, buf); err != nil {
			served <- fmt.Errorf("reading: %w", err)
			return
		}
		_, err = c.Write(buf)
		served <- err
	}()
	inNS(t, from.pod, func() {
		var c net.Conn
		c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err = c.Write(payload); err != nil {
			return
		}
		buf := make([]byte, len(payload))
		if _, err = io.ReadFull(c, buf); err == nil && !bytes.Equal(buf, payload) {
			err = fmt.Errorf("echo differs")
		}
	})
	must(t, fmt.Sprintf("TCP from %s's pod %s to %s's pod %s", from.name, from.podIP, to.name, ln.Addr()), err)
	must(t, "serving", <-served)
}

func vxlanTx(t *testing.T, h *netlink.Handle) uint64 {
	l, err := h.LinkByName(DeviceName)
	must(t, "finding "+DeviceName, err)
	return l.Attrs().Statistics.TxPackets
}

func TestIntegrationVXLAN(t *testing.T) {
	needRoot(t)
	a, b := twoHosts(t)
	client := clusterClient(a, b)
	oa := startOverlay(t, a, BackendVXLAN, client)
	ob := startOverlay(t, b, BackendVXLAN, client)
	if oa.MTU() != hostMTU-50 || ob.MTU() != hostMTU-50 {
		t.Fatalf("MTU %d/%d, want %d", oa.MTU(), ob.MTU(), hostMTU-50)
	}
	a.setPodMTU(t, oa.MTU())
	b.setPodMTU(t, ob.MTU())

	eventually(t, "node-a's routes", wantRoutes(a.h, "10.42.2.0/24 via 10.42.2.0 dev skiff.vxlan onlink"))
	eventually(t, "node-b's routes", wantRoutes(b.h, "10.42.1.0/24 via 10.42.1.0 dev skiff.vxlan onlink"))

	// The device, as the design says.
	l, err := a.h.LinkByName(DeviceName)
	must(t, "device", err)
	vx := l.(*netlink.Vxlan)
	if vx.VxlanId != VNI || vx.Port != Port || vx.Learning || !vx.SrcAddr.Equal(a.ip) || vx.MTU != hostMTU-50 ||
		vx.HardwareAddr.String() != vtepMAC(a.name).String() || vx.Flags&net.FlagUp == 0 {
		t.Errorf("device: vni %d port %d learning %v local %s mtu %d mac %s flags %v",
			vx.VxlanId, vx.Port, vx.Learning, vx.SrcAddr, vx.MTU, vx.HardwareAddr, vx.Flags)
	}
	eventually(t, "node-a's device address", func() error {
		addrs, err := a.h.AddrList(vx, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		if len(addrs) != 1 || addrs[0].IPNet.String() != "10.42.1.0/32" {
			return fmt.Errorf("addresses %v, want 10.42.1.0/32", addrs)
		}
		return nil
	})
	checkPeer := func(present bool) error {
		neighs, err := a.h.NeighList(vx.Index, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		var perm []string
		for _, n := range neighs {
			if n.State&netlink.NUD_PERMANENT != 0 {
				perm = append(perm, n.IP.String()+" "+n.HardwareAddr.String())
			}
		}
		fdb, err := a.h.NeighList(vx.Index, unix.AF_BRIDGE)
		if err != nil {
			return err
		}
		var fdbs []string
		for _, n := range fdb {
			fdbs = append(fdbs, n.HardwareAddr.String()+" dst "+n.IP.String())
		}
		wantNeigh, wantFDB := "", ""
		if present {
			wantNeigh = "10.42.2.0 " + vtepMAC(b.name).String()
			wantFDB = vtepMAC(b.name).String() + " dst 192.168.77.2"
		}
		if strings.Join(perm, ",") != wantNeigh || strings.Join(fdbs, ",") != wantFDB {
			return fmt.Errorf("neighbours %v, want %q; fdb %v, want %q", perm, wantNeigh, fdbs, wantFDB)
		}
		return nil
	}
	must(t, "node-a's neighbour and FDB entries", checkPeer(true))
	node, err := client.CoreV1().Nodes().Get(context.Background(), a.name, metav1.GetOptions{})
	must(t, "get node-a", err)
	if node.Annotations[PublicIPAnnotation] != "192.168.77.1" || node.Annotations[VtepMACAnnotation] != vtepMAC(a.name).String() {
		t.Errorf("node-a's annotations: %v", node.Annotations)
	}

	// Pod to pod, both ways, through the tunnel.
	tx := vxlanTx(t, a.h)
	connect(t, a, b)
	connect(t, b, a)
	if d := vxlanTx(t, a.h) - tx; d < 10 {
		t.Errorf("only %d packets went out of node-a's %s", d, DeviceName)
	}

	// Someone deletes a route, or the whole device: the next reconcile
	// puts it back.
	routes, _ := ownRoutes(a.h)
	must(t, "deleting a route", a.h.RouteDel(&routes[0]))
	oa.wake()
	eventually(t, "route put back", wantRoutes(a.h, "10.42.2.0/24 via 10.42.2.0 dev skiff.vxlan onlink"))
	must(t, "deleting the device", a.h.LinkDel(vx))
	oa.wake()
	eventually(t, "device put back", wantRoutes(a.h, "10.42.2.0/24 via 10.42.2.0 dev skiff.vxlan onlink"))
	l, err = a.h.LinkByName(DeviceName)
	must(t, "device", err)
	vx = l.(*netlink.Vxlan)
	eventually(t, "entries put back", func() error { return checkPeer(true) })
	connect(t, a, b)

	// A restart: Stop leaves everything, the pods keep talking, and the
	// next run keeps the device as it is.
	stop(t, oa)
	connect(t, a, b)
	oa = startOverlay(t, a, BackendVXLAN, client)
	eventually(t, "synced after restart", func() error {
		if !oa.syncedOnce() {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	l, err = a.h.LinkByName(DeviceName)
	must(t, "device after restart", err)
	if l.Attrs().Index != vx.Index {
		t.Error("the restart made the device anew")
	}
	must(t, "entries after restart", checkPeer(true))
	must(t, "routes after restart", wantRoutes(a.h, "10.42.2.0/24 via 10.42.2.0 dev skiff.vxlan onlink")())
	connect(t, a, b)

	// node-b leaves the cluster: its route, neighbour and FDB entry go.
	must(t, "deleting node-b", client.CoreV1().Nodes().Delete(context.Background(), b.name, metav1.DeleteOptions{}))
	eventually(t, "node-b's route gone", wantRoutes(a.h, ""))
	eventually(t, "node-b's entries gone", func() error { return checkPeer(false) })

	// Teardown takes the device (and so what was on it).
	stop(t, ob)
	removed, err := Teardown(b.h)
	must(t, "teardown", err)
	if strings.Join(removed, ",") != DeviceName {
		t.Errorf("teardown removed %v", removed)
	}
	if _, err := b.h.LinkByName(DeviceName); err == nil {
		t.Error("device left after teardown")
	}
	must(t, "no routes left", wantRoutes(b.h, "")())
	if removed, err := Teardown(b.h); err != nil || len(removed) != 0 {
		t.Errorf("second teardown: %v, %v", removed, err)
	}
}

func TestIntegrationHostGW(t *testing.T) {
	needRoot(t)
	a, b := twoHosts(t)
	// A vxlan device left by an earlier run with the vxlan backend.
	must(t, "old device", a.h.LinkAdd(&netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: DeviceName}, VxlanId: VNI, Port: Port}))

	client := clusterClient(a, b)
	oa := startOverlay(t, a, BackendHostGW, client)
	ob := startOverlay(t, b, BackendHostGW, client)
	if oa.MTU() != hostMTU {
		t.Errorf("MTU %d, want %d", oa.MTU(), hostMTU)
	}
	if _, err := a.h.LinkByName(DeviceName); err == nil {
		t.Error("the vxlan device of the earlier run is still there")
	}
	a.setPodMTU(t, oa.MTU())
	b.setPodMTU(t, ob.MTU())
	eventually(t, "node-a's routes", wantRoutes(a.h, "10.42.2.0/24 via 192.168.77.2 dev eth0"))
	eventually(t, "node-b's routes", wantRoutes(b.h, "10.42.1.0/24 via 192.168.77.1 dev eth0"))
	connect(t, a, b)
	connect(t, b, a)
	node, err := client.CoreV1().Nodes().Get(context.Background(), b.name, metav1.GetOptions{})
	must(t, "get node-b", err)
	if len(node.Annotations) != 1 || node.Annotations[PublicIPAnnotation] != "192.168.77.2" {
		t.Errorf("node-b's annotations: %v", node.Annotations)
	}

	must(t, "deleting node-b", client.CoreV1().Nodes().Delete(context.Background(), b.name, metav1.DeleteOptions{}))
	eventually(t, "node-b's route gone", wantRoutes(a.h, ""))

	// The routes on the host's own interface outlive Stop; Teardown takes
	// them, and only them.
	stop(t, ob)
	must(t, "route kept after stop", wantRoutes(b.h, "10.42.1.0/24 via 192.168.77.1 dev eth0")())
	removed, err := Teardown(b.h)
	must(t, "teardown", err)
	if strings.Join(removed, ",") != "route 10.42.1.0/24 via 192.168.77.1" {
		t.Errorf("teardown removed %v", removed)
	}
	routes, err := b.h.RouteList(nil, netlink.FAMILY_V4)
	must(t, "routes", err)
	if len(routes) != 2 { // the connected routes of eth0 and cni0
		t.Errorf("routes left: %v", routes)
	}
}
