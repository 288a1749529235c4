package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// DefaultBridgeName is the Linux bridge the pods' veths are attached to.
const DefaultBridgeName = "cni0"

// DefaultIPAMDataDir is where host-local keeps its address allocations
// when Config.IPAMDataDir is empty (host-local's own default).
const DefaultIPAMDataDir = "/var/lib/cni/networks"

// ConflistName is the file written into Config.CNIConfDir.
const ConflistName = "10-skiff.conflist"

// resyncInterval is how often the rules are checked and put back if
// something (a firewall reload, an admin's iptables -F) removed them.
const resyncInterval = time.Minute

// Config is what the pod network needs to know.
type Config struct {
	// ClusterCIDR is the pod network of the whole cluster, one CIDR or, for
	// dual-stack, an IPv4 and an IPv6 CIDR separated by a comma.
	ClusterCIDR string
	// NodeName is this node's Node object, whose spec.podCIDRs is the
	// slice of ClusterCIDR the pods here get their addresses from.
	NodeName string
	// CNIConfDir is the folder containerd's CRI reads CNI configuration
	// from (<data>/agent/etc/cni/net.d).
	CNIConfDir string
	// IPAMDataDir is host-local's allocation store (DefaultIPAMDataDir if
	// empty; <data>/agent/cni/networks keeps it with skiff's other state).
	IPAMDataDir string
	// BridgeName is the pods' bridge (DefaultBridgeName if empty).
	BridgeName string
	// MTU is the pods' MTU, written into the bridge plugin's "mtu": the
	// overlay's (overlay.Overlay.MTU), whose encapsulation takes its share
	// of the host interface's. 0 leaves it as on a single node: the MTU of
	// the default route's interface, or unset (the plugin's 1500) if
	// there is none.
	MTU int
	// Client reads this node's Node object; the node's own credentials are
	// enough.
	Client kubernetes.Interface
}

// Network is the pod network as a part of the agent role.
type Network struct {
	cfg   Config
	cidrs []*net.IPNet

	cancel context.CancelFunc
	done   chan struct{}
	failed chan error

	mu      sync.Mutex
	written []byte // the conflist last written (or found) on disk
}

var _ component.Component = (*Network)(nil)
var _ component.Failer = (*Network)(nil)

// New checks cfg and returns the part; nothing is touched before Start.
func New(cfg Config) (*Network, error) {
	cidrs, err := ParseClusterCIDR(cfg.ClusterCIDR)
	if err != nil {
		return nil, err
	}
	if cfg.NodeName == "" {
		return nil, errors.New("network: no node name")
	}
	if cfg.CNIConfDir == "" {
		return nil, errors.New("network: no CNI configuration folder")
	}
	if cfg.Client == nil {
		return nil, errors.New("network: no Kubernetes client")
	}
	if cfg.MTU < 0 {
		return nil, fmt.Errorf("network: MTU %d is negative", cfg.MTU)
	}
	if cfg.BridgeName == "" {
		cfg.BridgeName = DefaultBridgeName
	}
	if cfg.IPAMDataDir == "" {
		cfg.IPAMDataDir = DefaultIPAMDataDir
	}
	return &Network{cfg: cfg, cidrs: cidrs, failed: make(chan error, 1)}, nil
}

// ParseClusterCIDR parses one CIDR or a comma-separated IPv4 and IPv6 pair.
func ParseClusterCIDR(s string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	var v4, v6 int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			return nil, fmt.Errorf("cluster CIDR %q is not a CIDR such as 10.42.0.0/16", part)
		}
		if n.IP.To4() != nil {
			v4++
		} else {
			v6++
		}
		out = append(out, n)
	}
	switch {
	case len(out) == 0:
		return nil, errors.New("no cluster CIDR; set one such as 10.42.0.0/16")
	case v4 > 1 || v6 > 1:
		return nil, fmt.Errorf("cluster CIDR %q: give at most one IPv4 and one IPv6 CIDR", s)
	}
	return out, nil
}

// Name implements component.Component.
func (n *Network) Name() string { return "network" }

// Start turns on forwarding, installs the iptables rules, and then, in the
// background, writes the CNI conflist once the node has a pod CIDR.
func (n *Network) Start(ctx context.Context) error {
	if err := enableForwarding(n.cidrs); err != nil {
		return err
	}
	if err := ensureAllRules(n.cidrs, true); err != nil {
		return err
	}
	ctx, n.cancel = context.WithCancel(ctx)
	n.done = make(chan struct{})
	go func() {
		defer close(n.done)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); n.resync(ctx) }()
		go func() { defer wg.Done(); n.watchNode(ctx) }()
		wg.Wait()
	}()
	return nil
}

// Ready implements component.Component. The rules are in place once Start
// returned; the conflist comes later and the node's Ready condition says
// when it has.
func (n *Network) Ready(ctx context.Context) error { return nil }

// Stop ends the background work and leaves rules, bridge and conflist in
// place, so that running pods keep their network.
func (n *Network) Stop(ctx context.Context) error {
	if n.cancel == nil {
		return nil
	}
	n.cancel()
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Failed implements component.Failer: it reports a conflist that cannot be
// written.
func (n *Network) Failed() <-chan error { return n.failed }

func (n *Network) fail(err error) {
	select {
	case n.failed <- err:
	default:
	}
}

func (n *Network) resync(ctx context.Context) {
	t := time.NewTicker(resyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := ensureAllRules(n.cidrs, false); err != nil {
				klog.ErrorS(err, "Checking the pod network's iptables rules")
			}
		}
	}
}

// enableForwarding turns on IP forwarding and makes bridged traffic go
// through iptables, so that a pod reaching a Service whose endpoint is on
// the same bridge goes through kube-proxy's rules.
func enableForwarding(cidrs []*net.IPNet) error {
	v6 := hasV6(cidrs)
	if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	if v6 {
		if err := writeSysctl("net/ipv6/conf/all/forwarding", "1"); err != nil {
			return err
		}
	}
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		out, merr := exec.Command("modprobe", "br_netfilter").CombinedOutput()
		if merr != nil {
			klog.InfoS("Warning: could not load br_netfilter; pods may not reach Services whose endpoints are on this node",
				"err", merr, "output", strings.TrimSpace(string(out)))
		}
	}
	keys := []string{"net/bridge/bridge-nf-call-iptables"}
	if v6 {
		keys = append(keys, "net/bridge/bridge-nf-call-ip6tables")
	}
	for _, k := range keys {
		if err := writeSysctl(k, "1"); err != nil {
			klog.InfoS("Warning: could not make bridged traffic go through iptables; pods may not reach Services whose endpoints are on this node",
				"err", err)
		}
	}
	return nil
}

func writeSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", key)
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("setting %s=%s: %w", strings.ReplaceAll(key, "/", "."), value, err)
	}
	return nil
}

func hasV6(cidrs []*net.IPNet) bool {
	for _, c := range cidrs {
		if c.IP.To4() == nil {
			return true
		}
	}
	return false
}
