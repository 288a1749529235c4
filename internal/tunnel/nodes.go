package tunnel

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultKubeletPort is the kubelet's port when a Node does not report one.
const DefaultKubeletPort = 10250

// matchKind says how strongly an address belongs to a node.
type matchKind int

const (
	matchNone matchKind = iota
	// matchPodCIDR: the address is inside the node's pod CIDRs.
	matchPodCIDR
	// matchKubelet: the node's own address at its kubelet port. Stronger
	// than a pod CIDR match: should a misconfigured cluster make a node
	// address fall inside another node's pod CIDR, the node itself wins.
	matchKubelet
)

// nodeRoute is what of a Node decides which connections go through its
// tunnel.
type nodeRoute struct {
	addrs       []netip.Addr
	kubeletPort uint16
	podCIDRs    []netip.Prefix
}

// routeForNode reads a Node's addresses, kubelet port and pod CIDRs.
//
// Only InternalIP and ExternalIP count: those are the addresses the
// apiserver dials (--kubelet-preferred-address-types), and a Hostname would
// need DNS. Unparsable entries are skipped rather than failing the node.
func routeForNode(n *corev1.Node) nodeRoute {
	var r nodeRoute
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			r.addrs = append(r.addrs, ip.Unmap())
		}
	}
	r.kubeletPort = DefaultKubeletPort
	if p := n.Status.DaemonEndpoints.KubeletEndpoint.Port; p > 0 && p <= 65535 {
		r.kubeletPort = uint16(p)
	}
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			r.podCIDRs = append(r.podCIDRs, p.Masked())
		}
	}
	return r
}

// match says whether the connection to ap belongs to this node's tunnel.
//
// A node address matches only at the kubelet port: that is all the agent
// lets through (see NodeAllow), and any other port on a node address — a
// NodePort, a hostNetwork webhook — is better dialled directly, which works
// whenever the node is reachable at all, than refused by the agent.
func (r nodeRoute) match(ap netip.AddrPort) matchKind {
	ip := ap.Addr().Unmap()
	if ap.Port() == r.kubeletPort {
		for _, a := range r.addrs {
			if a == ip {
				return matchKubelet
			}
		}
	}
	for _, p := range r.podCIDRs {
		if p.Contains(ip) {
			return matchPodCIDR
		}
	}
	return matchNone
}

// trimNode keeps only what routeForNode reads, so the informer's cache does
// not hold every node's image list, conditions and managed fields: on a
// small server that cache would otherwise be a noticeable part of memory.
func trimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil // a tombstone or anything else: leave it be
	}
	return &corev1.Node{
		TypeMeta: n.TypeMeta,
		// Name and ResourceVersion are what the cache and the informer's
		// resync need; labels, annotations and managed fields are not.
		ObjectMeta: metav1.ObjectMeta{
			Name:            n.Name,
			UID:             n.UID,
			ResourceVersion: n.ResourceVersion,
		},
		Spec: corev1.NodeSpec{
			PodCIDR:  n.Spec.PodCIDR,
			PodCIDRs: n.Spec.PodCIDRs,
		},
		Status: corev1.NodeStatus{
			Addresses:       n.Status.Addresses,
			DaemonEndpoints: n.Status.DaemonEndpoints,
		},
	}, nil
}
