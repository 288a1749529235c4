package network

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// NetworkName is the CNI network's name (host-local keeps its allocations
// in a folder of that name).
const NetworkName = "skiff"

// Conflist returns the CNI configuration for a node whose pods get their
// addresses from podCIDRs: a bridge with host-local addresses (skiff's own
// iptables rules do the masquerade), then portmap for hostPorts and
// bandwidth for traffic shaping.
func Conflist(podCIDRs []string, bridge string, mtu int, ipamDataDir string) ([]byte, error) {
	if len(podCIDRs) == 0 {
		return nil, fmt.Errorf("no pod CIDR")
	}
	type rng struct {
		Subnet string `json:"subnet"`
	}
	type route struct {
		Dst string `json:"dst"`
	}
	var ranges [][]rng
	var routes []route
	for _, c := range podCIDRs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("pod CIDR %q: %w", c, err)
		}
		ranges = append(ranges, []rng{{Subnet: n.String()}})
		if n.IP.To4() != nil {
			routes = append(routes, route{Dst: "0.0.0.0/0"})
		} else {
			routes = append(routes, route{Dst: "::/0"})
		}
	}
	bridgePlugin := map[string]any{
		"type":        "bridge",
		"bridge":      bridge,
		"isGateway":   true,
		"ipMasq":      false,
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  ranges,
			"routes":  routes,
			"dataDir": ipamDataDir,
		},
	}
	if mtu > 0 {
		bridgePlugin["mtu"] = mtu
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       NetworkName,
		"plugins": []any{
			bridgePlugin,
			map[string]any{"type": "portmap", "snat": true, "capabilities": map[string]bool{"portMappings": true}},
			map[string]any{"type": "bandwidth", "capabilities": map[string]bool{"bandwidth": true}},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// defaultRouteMTU is the MTU of the interface the default route leaves
// by, or 0 when there is none (the bridge plugin then uses 1500).
func defaultRouteMTU(v6 bool) int {
	family := netlink.FAMILY_V4
	if v6 {
		family = netlink.FAMILY_V6
	}
	routes, err := netlink.RouteList(nil, family)
	if err != nil {
		return 0
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		idx := r.LinkIndex
		if idx == 0 && len(r.MultiPath) > 0 {
			idx = r.MultiPath[0].LinkIndex
		}
		if idx == 0 {
			continue
		}
		if l, err := netlink.LinkByIndex(idx); err == nil {
			return l.Attrs().MTU
		}
	}
	return 0
}

// watchNode follows this node's Node object and writes the conflist for
// its pod CIDRs, again if they change.
func (n *Network) watchNode(ctx context.Context) {
	sel := fields.OneTermEqualSelector("metadata.name", n.cfg.NodeName).String()
	nodes := n.cfg.Client.CoreV1().Nodes()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return nodes.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return nodes.Watch(ctx, o)
		},
	}
	cidrs := make(chan []string, 1)
	onNode := func(obj any) {
		node, ok := obj.(*corev1.Node)
		if !ok || node.Name != n.cfg.NodeName {
			return
		}
		c := node.Spec.PodCIDRs
		if len(c) == 0 && node.Spec.PodCIDR != "" {
			c = []string{node.Spec.PodCIDR}
		}
		if len(c) == 0 {
			return
		}
		select { // keep only the latest
		case <-cidrs:
		default:
		}
		cidrs <- c
	}
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		// The fake clients of unit tests don't speak WatchList; this says so.
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, n.cfg.Client),
		ObjectType:    &corev1.Node{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    onNode,
			UpdateFunc: func(_, obj any) { onNode(obj) },
		},
	})
	go informer.RunWithContext(ctx)

	klog.V(1).InfoS("Waiting for the node's pod CIDR", "node", n.cfg.NodeName)
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-cidrs:
			if err := n.writeConflistRetrying(ctx, c); err != nil {
				if ctx.Err() == nil {
					n.fail(err)
				}
				return
			}
		}
	}
}

func (n *Network) writeConflistRetrying(ctx context.Context, podCIDRs []string) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = n.writeConflist(podCIDRs); err == nil {
			return nil
		}
		klog.ErrorS(err, "Writing the CNI configuration")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return err
}

// writeConflist writes the conflist unless the same is there already.
func (n *Network) writeConflist(podCIDRs []string) error {
	v6 := true
	for _, c := range podCIDRs {
		if ip, _, err := net.ParseCIDR(c); err == nil && ip.To4() != nil {
			v6 = false
		}
	}
	mtu := n.cfg.MTU
	if mtu <= 0 {
		mtu = defaultRouteMTU(v6)
	}
	data, err := Conflist(podCIDRs, n.cfg.BridgeName, mtu, n.cfg.IPAMDataDir)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.cfg.NodeName, err)
	}
	path := filepath.Join(n.cfg.CNIConfDir, ConflistName)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.written == nil {
		n.written, _ = os.ReadFile(path)
	}
	if bytes.Equal(n.written, data) {
		klog.V(1).InfoS("CNI configuration is up to date", "path", path, "podCIDRs", podCIDRs)
		return nil
	}
	if err := os.MkdirAll(n.cfg.CNIConfDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", n.cfg.CNIConfDir, err)
	}
	if err := fsutil.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	n.written = data
	klog.InfoS("Wrote the CNI configuration", "path", path, "podCIDRs", podCIDRs)
	return nil
}
