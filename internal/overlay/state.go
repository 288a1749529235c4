package overlay

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// Node annotations through which the nodes tell each other how to reach
// their pods. Each node sets its own.
const (
	// VtepMACAnnotation is the MAC of the node's skiff.vxlan device.
	VtepMACAnnotation = "skiff.io/vtep-mac"
	// PublicIPAnnotation is the IP the node's tunnel (or, with host-gw, its
	// pods' route) ends at.
	PublicIPAnnotation = "skiff.io/public-ip"
)

// view is what the desired state depends on besides the Node objects.
type view struct {
	backend string
	self    string     // this node's name
	selfIP  net.IP     // this node's IP (the tunnel's local end)
	cluster *net.IPNet // the cluster's IPv4 pod network
}

// routeSpec is a route to another node's pod CIDR. The backend decides the
// device it goes out of (skiff.vxlan, onlink; or the host's interface).
type routeSpec struct {
	Dst *net.IPNet
	Gw  net.IP
}

// neighSpec is a permanent neighbour entry on skiff.vxlan: a peer's pod
// CIDR network address and its VTEP's MAC.
type neighSpec struct {
	IP  net.IP
	MAC net.HardwareAddr
}

// fdbSpec is a forwarding entry on skiff.vxlan: frames for a peer's VTEP
// MAC are sent (in UDP) to the peer's IP.
type fdbSpec struct {
	MAC net.HardwareAddr
	Dst net.IP
}

// peer is another node as far as the overlay is concerned.
type peer struct {
	Name    string
	PodCIDR *net.IPNet
	IP      net.IP
	MAC     net.HardwareAddr // vxlan only
}

func (p peer) String() string {
	if p.MAC != nil {
		return fmt.Sprintf("%s via %s (vtep %s)", p.PodCIDR, p.IP, p.MAC)
	}
	return fmt.Sprintf("%s via %s", p.PodCIDR, p.IP)
}

// state is what the kernel should hold for a set of Nodes.
type state struct {
	// OwnPodCIDR is this node's IPv4 pod CIDR, nil until it has one.
	OwnPodCIDR *net.IPNet
	Peers      []peer
	Routes     []routeSpec
	Neighs     []neighSpec // vxlan only
	FDB        []fdbSpec   // vxlan only
}

// desiredState computes what the kernel should hold from the Node objects
// of the cluster. Nodes that cannot be routed (yet) are left out and
// skipped says why, by node name: most reasons are transient (no pod CIDR
// yet, annotations not yet set by that node's own overlay).
func desiredState(v view, nodes []*corev1.Node) (st state, skipped map[string]string) {
	skipped = map[string]string{}
	// Sorted, so that of two nodes claiming the same CIDR or MAC the same
	// one wins on every node and every run.
	nodes = append([]*corev1.Node(nil), nodes...)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })

	for _, n := range nodes {
		if n.Name == v.self {
			cidr, _ := podCIDRv4(n, v.cluster)
			st.OwnPodCIDR = cidr
		}
	}
	var cidrs []*net.IPNet
	if st.OwnPodCIDR != nil {
		cidrs = append(cidrs, st.OwnPodCIDR)
	}
	macs := map[string]string{}
	for _, n := range nodes {
		if n.Name == v.self {
			continue
		}
		p, why := peerOf(v, n)
		if why != "" {
			skipped[n.Name] = why
			continue
		}
		if p.IP.Equal(v.selfIP) {
			skipped[n.Name] = fmt.Sprintf("its IP %s is this node's", p.IP)
			continue
		}
		if c := overlapping(cidrs, p.PodCIDR); c != nil {
			skipped[n.Name] = fmt.Sprintf("its pod CIDR %s overlaps %s, already routed", p.PodCIDR, c)
			continue
		}
		if p.MAC != nil {
			if other, ok := macs[p.MAC.String()]; ok {
				skipped[n.Name] = fmt.Sprintf("its VTEP MAC %s is node %s's too", p.MAC, other)
				continue
			}
			macs[p.MAC.String()] = n.Name
		}
		cidrs = append(cidrs, p.PodCIDR)
		st.Peers = append(st.Peers, p)
		switch v.backend {
		case BackendVXLAN:
			// The peer's pod CIDR network address is its skiff.vxlan's
			// address: the route's gateway, resolved by the permanent
			// neighbour entry to the peer's MAC, which the FDB entry sends
			// to the peer's IP. onlink, because no subnet here holds it.
			gw := p.PodCIDR.IP
			st.Routes = append(st.Routes, routeSpec{Dst: p.PodCIDR, Gw: gw})
			st.Neighs = append(st.Neighs, neighSpec{IP: gw, MAC: p.MAC})
			st.FDB = append(st.FDB, fdbSpec{MAC: p.MAC, Dst: p.IP})
		case BackendHostGW:
			st.Routes = append(st.Routes, routeSpec{Dst: p.PodCIDR, Gw: p.IP})
		}
	}
	return st, skipped
}

// peerOf reads what routing to node n takes from its Node object, or says
// why it cannot be routed.
func peerOf(v view, n *corev1.Node) (peer, string) {
	cidr, why := podCIDRv4(n, v.cluster)
	if cidr == nil {
		return peer{}, why
	}
	p := peer{Name: n.Name, PodCIDR: cidr}
	ip, ipErr := annotatedIP(n)
	switch v.backend {
	case BackendVXLAN:
		if ipErr != "" {
			return peer{}, ipErr
		}
		s := n.Annotations[VtepMACAnnotation]
		if s == "" {
			return peer{}, "no " + VtepMACAnnotation + " annotation yet"
		}
		mac, err := net.ParseMAC(s)
		if err != nil || len(mac) != 6 {
			return peer{}, fmt.Sprintf("bad %s annotation %q", VtepMACAnnotation, s)
		}
		p.IP, p.MAC = ip, mac
	case BackendHostGW:
		// The annotation first: it is the IP that node's own overlay chose
		// (the node IP skiff runs with); a node without it (not running
		// skiff's overlay yet) is reached at its InternalIP.
		if ip == nil {
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP {
					if i := net.ParseIP(a.Address); i != nil && i.To4() != nil {
						ip = i.To4()
						break
					}
				}
			}
		}
		if ip == nil {
			return peer{}, "no " + PublicIPAnnotation + " annotation and no IPv4 InternalIP"
		}
		p.IP = ip
	}
	return p, ""
}

// annotatedIP parses a node's public-ip annotation.
func annotatedIP(n *corev1.Node) (net.IP, string) {
	s := n.Annotations[PublicIPAnnotation]
	if s == "" {
		return nil, "no " + PublicIPAnnotation + " annotation yet"
	}
	ip := net.ParseIP(s)
	if ip == nil || ip.To4() == nil {
		return nil, fmt.Sprintf("bad %s annotation %q (IPv4 only)", PublicIPAnnotation, s)
	}
	return ip.To4(), ""
}

// podCIDRv4 is the node's IPv4 pod CIDR, which must lie in the cluster's
// pod network: a route elsewhere could hijack the host's own networks.
func podCIDRv4(n *corev1.Node, cluster *net.IPNet) (*net.IPNet, string) {
	list := n.Spec.PodCIDRs
	if len(list) == 0 && n.Spec.PodCIDR != "" {
		list = []string{n.Spec.PodCIDR}
	}
	if len(list) == 0 {
		return nil, "no pod CIDR yet"
	}
	for _, s := range list {
		_, c, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Sprintf("bad pod CIDR %q", s)
		}
		if c.IP.To4() == nil {
			continue // IPv6: not routed (see the package doc)
		}
		c.IP = c.IP.To4()
		ones, _ := c.Mask.Size()
		cOnes, _ := cluster.Mask.Size()
		if !cluster.Contains(c.IP) || ones < cOnes {
			return nil, fmt.Sprintf("its pod CIDR %s is outside the cluster CIDR %s", c, cluster)
		}
		return c, ""
	}
	return nil, "no IPv4 pod CIDR (the overlay routes IPv4 only)"
}

// overlapping returns the first of cidrs that overlaps c.
func overlapping(cidrs []*net.IPNet, c *net.IPNet) *net.IPNet {
	for _, o := range cidrs {
		if o.Contains(c.IP) || c.Contains(o.IP) {
			return o
		}
	}
	return nil
}

// ownAnnotations are the annotations this node publishes.
func ownAnnotations(backend string, ip net.IP, mac net.HardwareAddr) map[string]string {
	a := map[string]string{PublicIPAnnotation: ip.String()}
	if backend == BackendVXLAN {
		a[VtepMACAnnotation] = mac.String()
	}
	return a
}

// annotationsPatch is the merge patch that sets want on node, or nil if it
// has them already.
func annotationsPatch(node *corev1.Node, want map[string]string) []byte {
	diff := map[string]string{}
	for k, v := range want {
		if node.Annotations[k] != v {
			diff[k] = v
		}
	}
	if len(diff) == 0 {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": diff}})
	return b
}

// relevantChange says whether a Node update touches what the overlay
// reads; the kubelet's periodic status updates don't.
func relevantChange(a, b *corev1.Node) bool {
	if a.Spec.PodCIDR != b.Spec.PodCIDR || fmt.Sprint(a.Spec.PodCIDRs) != fmt.Sprint(b.Spec.PodCIDRs) {
		return true
	}
	for _, k := range []string{VtepMACAnnotation, PublicIPAnnotation} {
		if a.Annotations[k] != b.Annotations[k] {
			return true
		}
	}
	return fmt.Sprint(a.Status.Addresses) != fmt.Sprint(b.Status.Addresses)
}
