package overlay

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/network"
)

// Backends, as --flannel-backend names them.
const (
	BackendVXLAN  = "vxlan"
	BackendHostGW = "host-gw"
	BackendNone   = "none"
)

// DefaultBackend is the backend of an empty Config.Backend (k3s's default).
const DefaultBackend = BackendVXLAN

// Backends lists the valid backends.
var Backends = []string{BackendVXLAN, BackendHostGW, BackendNone}

// The vxlan device. VNI 1 and port 8472 are flannel's: firewalls opened
// for k3s clusters let skiff's nodes talk too. (The flip side: flannel and
// skiff cannot run their vxlan on the same host; the error says so.)
const (
	DeviceName = "skiff.vxlan"
	VNI        = 1
	Port       = 8472
	// VXLANOverhead is what encapsulation adds to each packet: outer IPv4
	// (20), UDP (8), VXLAN (8) and inner Ethernet (14) headers.
	VXLANOverhead = 50
)

// RouteProtocol marks the routes the overlay installs (`ip route` shows
// "proto 83"), so that it can find again, update and remove exactly its own
// routes, on the vxlan device and (host-gw) on the host's own interface,
// after a restart and in Teardown. 83 is 'S', unused by the protocols
// iproute2 names.
const RouteProtocol netlink.RouteProtocol = 83

// resyncInterval is how often the kernel state is checked against the
// Nodes even when no Node changed: something (an admin, a network manager)
// may have removed a route or the device.
const resyncInterval = time.Minute

// Config is what the overlay needs to know.
type Config struct {
	// Backend is "vxlan", "host-gw" or "none" (DefaultBackend if empty).
	Backend string
	// NodeName is this node's Node object: its pod CIDR is read there, and
	// its annotations written.
	NodeName string
	// NodeIP is this node's IPv4 address the other nodes reach it at: the
	// tunnel's local end. If nil, an address of Interface, or else of the
	// interface of the default route.
	NodeIP net.IP
	// Interface is the host's interface the overlay's traffic leaves by
	// (the vxlan device's parent, whose MTU sets the overlay's). If empty,
	// the interface holding NodeIP.
	Interface string
	// ClusterCIDR is the cluster's pod network (one CIDR, or an IPv4 and an
	// IPv6 one separated by a comma). Only other nodes' pod CIDRs within it
	// are routed.
	ClusterCIDR string
	// Client reads the Nodes and patches this node's own annotations; the
	// node's own credentials (system:node:<name>) are enough.
	Client kubernetes.Interface
	// Handle is the netlink handle all kernel work goes through; nil for
	// the network namespace skiff runs in. Tests pass
	// netlink.NewHandleAt(ns) to run an overlay inside a namespace.
	Handle *netlink.Handle
}

// Overlay is the multi-node pod network as a part of the agent role.
type Overlay struct {
	cfg     Config
	backend string
	h       *netlink.Handle
	cluster *net.IPNet // IPv4 only

	// Resolved by New.
	parent netlink.Link
	nodeIP net.IP
	mtu    int
	mac    net.HardwareAddr // the vxlan device's

	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	// Only the reconcile loop touches these.
	store   cache.Store
	skipped map[string]string // node -> why it is not routed, as last logged
	routed  map[string]string // node -> what it is routed as, as last logged
	// patchedFrom is the resourceVersion of this node's Node when its
	// annotations were last patched.
	patchedFrom string

	mu     sync.Mutex
	synced bool // for tests: a reconcile after the informer synced succeeded
}

var _ component.Component = (*Overlay)(nil)

// ValidateBackend checks a --flannel-backend value.
func ValidateBackend(b string) error {
	for _, v := range Backends {
		if b == v {
			return nil
		}
	}
	return fmt.Errorf("unknown flannel backend %q: use one of %s", b, strings.Join(Backends, ", "))
}

// New checks cfg and finds the host interface and address the overlay
// uses, so that MTU is known before anything starts (the CNI conflist
// needs it). It reads the host's links but changes nothing.
func New(cfg Config) (*Overlay, error) {
	o := &Overlay{cfg: cfg, backend: cfg.Backend, h: cfg.Handle}
	if o.backend == "" {
		o.backend = DefaultBackend
	}
	if err := ValidateBackend(o.backend); err != nil {
		return nil, err
	}
	if o.backend == BackendNone {
		return o, nil
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.h == nil {
		// A Handle without sockets of its own opens one per request in the
		// calling thread's namespace, as the package-level functions do.
		o.h = &netlink.Handle{}
	}
	parent, ip, err := findParent(o.h, cfg.Interface, cfg.NodeIP)
	if err != nil {
		return nil, err
	}
	o.parent, o.nodeIP = parent, ip
	o.mtu = parent.Attrs().MTU
	if o.backend == BackendVXLAN {
		o.mtu -= VXLANOverhead
		o.mac = vtepMAC(cfg.NodeName)
	}
	return o, nil
}

// validate checks everything but the backend, without touching the host.
func (o *Overlay) validate() error {
	cfg := o.cfg
	if cfg.NodeName == "" {
		return errors.New("overlay: no node name")
	}
	if cfg.Client == nil {
		return errors.New("overlay: no API client")
	}
	if cfg.NodeIP != nil && cfg.NodeIP.To4() == nil {
		return fmt.Errorf("node IP %s: the %s overlay works over IPv4 only; give an IPv4 node IP or use --flannel-backend none", cfg.NodeIP, o.backend)
	}
	cidrs, err := network.ParseClusterCIDR(cfg.ClusterCIDR)
	if err != nil {
		return err
	}
	for _, c := range cidrs {
		if c.IP.To4() != nil {
			o.cluster = &net.IPNet{IP: c.IP.To4(), Mask: c.Mask[len(c.Mask)-4:]}
		}
	}
	if o.cluster == nil {
		return fmt.Errorf("cluster CIDR %s has no IPv4 CIDR, and the %s overlay routes IPv4 only; use --flannel-backend none and route the pods yourself", cfg.ClusterCIDR, o.backend)
	}
	if len(cidrs) > 1 {
		klog.InfoS("Warning: the overlay routes IPv4 only; pods' IPv6 addresses will not reach other nodes", "clusterCIDR", cfg.ClusterCIDR)
	}
	return nil
}

// vtepMAC derives the vxlan device's MAC from the node name: a node that
// reboots (or whose device was deleted) comes back with the same MAC, so
// the other nodes' neighbour entries for it stay right even before they
// see its annotation again. Locally administered, unicast.
func vtepMAC(node string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("skiff.vxlan/" + node))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&^0x01 | 0x02
	return mac
}

// Backend is the backend in use ("vxlan", "host-gw" or "none").
func (o *Overlay) Backend() string { return o.backend }

// MTU is the MTU pods must use for their traffic to fit in the overlay:
// the parent interface's less the vxlan overhead (vxlan), the parent
// interface's (host-gw), or 0 (none: not the overlay's business). It is
// known from New on.
func (o *Overlay) MTU() int { return o.mtu }

// NodeIP is the IP the overlay publishes for this node (its tunnel end),
// nil with backend none.
func (o *Overlay) NodeIP() net.IP { return o.nodeIP }

// Name implements component.Component.
func (o *Overlay) Name() string { return "overlay" }

// Start sets up the vxlan device (vxlan) and then, in the background,
// follows the Nodes: this node's annotations and its device's address as
// soon as it has a pod CIDR, and the routes to the others as they come
// and go. With backend none it does nothing.
func (o *Overlay) Start(ctx context.Context) error {
	if o.backend == BackendNone {
		klog.InfoS("Pod overlay disabled (flannel backend none): pods reach other nodes only through a network you provide")
		return nil
	}
	switch o.backend {
	case BackendVXLAN:
		if _, err := o.ensureDevice(); err != nil {
			return err
		}
	case BackendHostGW:
		// A device left by a vxlan run before would keep routing to the
		// nodes with stale entries.
		if removed, err := removeDevice(o.h); err != nil {
			return err
		} else if removed {
			klog.InfoS("Removed the vxlan device of an earlier run: the backend is now host-gw", "device", DeviceName)
		}
	}
	klog.InfoS("Starting the pod overlay", "backend", o.backend, "interface", o.parent.Attrs().Name, "nodeIP", o.nodeIP, "mtu", o.mtu)

	ctx, o.cancel = context.WithCancel(ctx)
	o.done = make(chan struct{})
	o.kick = make(chan struct{}, 1)
	informer := o.newInformer()
	go func() {
		defer close(o.done)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); informer.RunWithContext(ctx) }()
		o.loop(ctx, informer.HasSynced)
		wg.Wait()
	}()
	return nil
}

// Ready implements component.Component. Once Start returned the device is
// there; the routes follow the Nodes in the background (a node has no pod
// CIDR before its kubelet registered it, so waiting here for it would hold
// up the kubelet that comes after).
func (o *Overlay) Ready(ctx context.Context) error { return nil }

// Stop ends the background work and leaves the device, routes, neighbour
// and FDB entries in place, so that pods keep reaching the other nodes
// while skiff restarts.
func (o *Overlay) Stop(ctx context.Context) error {
	if o.cancel == nil {
		return nil
	}
	o.cancel()
	select {
	case <-o.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Teardown removes what the overlay installed, in o's namespace.
func (o *Overlay) Teardown() ([]string, error) { return Teardown(o.h) }

// Teardown removes what an overlay installed in the namespace of h (nil:
// skiff's own): the vxlan device, and with it the routes, neighbour and FDB
// entries on it, and the overlay's routes elsewhere (host-gw's, on the
// host's interface). It returns what it removed ("skiff.vxlan",
// "route 10.42.2.0/24 via 192.168.1.2"); nothing to remove is not an error.
func Teardown(h *netlink.Handle) ([]string, error) {
	if h == nil {
		h = &netlink.Handle{}
	}
	var removed []string
	var errs []error
	if ok, err := removeDevice(h); err != nil {
		errs = append(errs, err)
	} else if ok {
		removed = append(removed, DeviceName)
	}
	routes, err := ownRoutes(h)
	if err != nil {
		errs = append(errs, fmt.Errorf("listing the overlay's routes: %w", err))
	}
	for _, r := range routes {
		if err := h.RouteDel(&r); err != nil {
			errs = append(errs, fmt.Errorf("deleting route %s: %w", describeRoute(r), err))
			continue
		}
		removed = append(removed, "route "+describeRoute(r))
	}
	return removed, errors.Join(errs...)
}

func describeRoute(r netlink.Route) string {
	if r.Gw != nil {
		return fmt.Sprintf("%s via %s", r.Dst, r.Gw)
	}
	return fmt.Sprint(r.Dst)
}
