package servicelb

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// This file holds every decision the controller makes, as pure functions
// of what the informers hold: which Services are skiff's, which nodes may
// serve them, who gets which port, and what each Service's status should
// be. Nothing here talks to the apiserver or keeps state.

// portKey is one port on the nodes' addresses.
type portKey struct {
	Protocol corev1.Protocol
	Port     int32
}

func (k portKey) String() string { return fmt.Sprintf("%d/%s", k.Port, k.Protocol) }

// protocolOf is p, or TCP when p is empty (the API's default).
func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// manages says whether svc is skiff's to serve: a LoadBalancer Service with
// no loadBalancerClass or with ClassName.
func manages(svc *corev1.Service) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	return svc.Spec.LoadBalancerClass == nil || *svc.Spec.LoadBalancerClass == ClassName
}

// localTraffic says whether svc sends external traffic only to endpoints
// on the node it arrived at.
func localTraffic(svc *corev1.Service) bool {
	return svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// wanted is the ports svc asks for, in its spec's order.
func wanted(svc *corev1.Service) []portKey {
	var out []portKey
	for _, p := range svc.Spec.Ports {
		k := portKey{Protocol: protocolOf(p.Protocol), Port: p.Port}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// recorded is the ports svc's status says it was given (ingress[].ports,
// which decide writes).
func recorded(svc *corev1.Service) map[portKey]bool {
	out := map[portKey]bool{}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		for _, p := range ing.Ports {
			out[portKey{Protocol: protocolOf(p.Protocol), Port: p.Port}] = true
		}
	}
	return out
}

// clash is why a Service cannot have one of its ports.
type clash struct {
	Port portKey
	// Holder is the namespace/name of the Service that has the port; empty
	// when skiff itself uses it.
	Holder string
	// What says which part of skiff uses it (Port.What).
	What string
}

// allocate shares the nodes' ports among services (skiff's, see manages)
// and returns, for each Service that cannot have all its ports, why; a
// Service absent from the result has them all. A Service gets all its
// ports or none. reserved maps skiff's own ports to what uses them.
//
// Services are served in order of priority: those whose status records all
// the ports they ask for, then those that record some, then the others;
// within each, the oldest first, then by namespace/name. So a Service keeps
// the ports it has, and otherwise the oldest asking wins.
func allocate(services []*corev1.Service, reserved map[portKey]string) map[string][]clash {
	type claimant struct {
		svc   *corev1.Service
		name  string
		wants []portKey
		tier  int // 0: holds all it asks for, 1: some, 2: none
	}
	var claimants []claimant
	for _, svc := range services {
		if !manages(svc) {
			continue
		}
		c := claimant{svc: svc, name: svc.Namespace + "/" + svc.Name, wants: wanted(svc)}
		rec := recorded(svc)
		held := 0
		for _, k := range c.wants {
			if rec[k] {
				held++
			}
		}
		switch {
		case held > 0 && held == len(c.wants):
			c.tier = 0
		case held > 0:
			c.tier = 1
		default:
			c.tier = 2
		}
		claimants = append(claimants, c)
	}
	slices.SortFunc(claimants, func(a, b claimant) int {
		if a.tier != b.tier {
			return cmp.Compare(a.tier, b.tier)
		}
		if c := a.svc.CreationTimestamp.Time.Compare(b.svc.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.svc.Namespace, b.svc.Namespace), cmp.Compare(a.svc.Name, b.svc.Name))
	})

	taken := map[portKey]string{}
	pending := map[string][]clash{}
	for _, c := range claimants {
		var clashes []clash
		for _, k := range c.wants {
			if what, ok := reserved[k]; ok {
				clashes = append(clashes, clash{Port: k, What: what})
			} else if holder, ok := taken[k]; ok {
				clashes = append(clashes, clash{Port: k, Holder: holder})
			}
		}
		if len(clashes) > 0 {
			pending[c.name] = clashes
			continue
		}
		for _, k := range c.wants {
			taken[k] = c.name
		}
	}
	return pending
}

// clashMessage is the Event that tells a user why their Service stays
// pending, ending with what to do.
func clashMessage(clashes []clash) string {
	var parts []string
	byService := 0
	for _, c := range clashes {
		switch {
		case c.Holder != "":
			byService++
			parts = append(parts, fmt.Sprintf("port %s is used by LoadBalancer Service %s", c.Port, c.Holder))
		case c.What != "":
			parts = append(parts, fmt.Sprintf("port %s is used by skiff (%s)", c.Port, c.What))
		default:
			parts = append(parts, fmt.Sprintf("port %s is used by skiff", c.Port))
		}
	}
	var fix string
	switch {
	case len(clashes) == 1 && byService == 1:
		fix = "delete it or pick another port"
	case len(clashes) == 1:
		fix = "pick another port"
	case byService > 0:
		fix = "free those ports or pick others"
	default:
		fix = "pick other ports"
	}
	return strings.Join(parts, ", ") + " on every node; " + fix
}

// eligibleNodes are the nodes that may serve LoadBalancer Services, sorted
// by name; when there are none, why says so in words for an Event.
func eligibleNodes(nodes []*corev1.Node) (eligible []*corev1.Node, why string) {
	selecting := slices.ContainsFunc(nodes, func(n *corev1.Node) bool {
		_, ok := n.Labels[EnableLBLabel]
		return ok
	})
	candidates := 0
	for _, n := range nodes {
		if _, ok := n.Labels[corev1.LabelNodeExcludeBalancers]; ok {
			continue
		}
		if selecting && n.Labels[EnableLBLabel] != "true" {
			continue
		}
		candidates++
		if nodeReady(n) {
			eligible = append(eligible, n)
		}
	}
	slices.SortFunc(eligible, func(a, b *corev1.Node) int { return cmp.Compare(a.Name, b.Name) })
	switch {
	case len(eligible) > 0:
	case len(nodes) == 0:
		why = "there is no node in the cluster yet"
	case candidates == 0 && selecting:
		why = fmt.Sprintf("no node is labelled %s=true (some node has the label, so only those may serve LoadBalancer Services)", EnableLBLabel)
	case candidates == 0:
		why = "every node is labelled " + corev1.LabelNodeExcludeBalancers
	default:
		why = "none of the nodes that may serve it is Ready"
	}
	return eligible, why
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// families are the IP families svc's ingress may have, in its order.
func families(svc *corev1.Service) []corev1.IPFamily {
	if len(svc.Spec.IPFamilies) > 0 {
		return svc.Spec.IPFamilies
	}
	return []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
}

func familyOf(a netip.Addr) corev1.IPFamily {
	if a.Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

// nodeAddresses are n's addresses of family: its ExternalIPs if it has any,
// else its InternalIPs.
func nodeAddresses(n *corev1.Node, family corev1.IPFamily) []netip.Addr {
	var ext, internal []netip.Addr
	for _, a := range n.Status.Addresses {
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		ip = ip.Unmap()
		if familyOf(ip) != family {
			continue
		}
		switch a.Type {
		case corev1.NodeExternalIP:
			ext = append(ext, ip)
		case corev1.NodeInternalIP:
			internal = append(internal, ip)
		}
	}
	if len(ext) > 0 {
		return ext
	}
	return internal
}

// ingressFor is the status ingress of an admitted Service: the addresses
// of the nodes that serve it, one family after the other in the Service's
// order, each sorted, with ipMode VIP (kube-proxy programs only VIPs) and
// the Service's ports. local, for externalTrafficPolicy Local, holds the
// names of the nodes with a ready endpoint of it; for Cluster it is
// ignored. When the list is empty, why says so.
func ingressFor(svc *corev1.Service, eligible []*corev1.Node, eligibleWhy string, local map[string]bool) (ingress []corev1.LoadBalancerIngress, why string) {
	if len(eligible) == 0 {
		return nil, eligibleWhy
	}
	serving := eligible
	if localTraffic(svc) {
		serving = nil
		for _, n := range eligible {
			if local[n.Name] {
				serving = append(serving, n)
			}
		}
		if len(serving) == 0 {
			return nil, "its externalTrafficPolicy is Local and no node that may serve it has a ready endpoint of it"
		}
	}
	var ports []corev1.PortStatus
	for _, k := range wanted(svc) {
		ports = append(ports, corev1.PortStatus{Port: k.Port, Protocol: k.Protocol})
	}
	var fams []string
	for _, fam := range families(svc) {
		fams = append(fams, string(fam))
		var ips []netip.Addr
		for _, n := range serving {
			for _, ip := range nodeAddresses(n, fam) {
				if !slices.Contains(ips, ip) {
					ips = append(ips, ip)
				}
			}
		}
		slices.SortFunc(ips, netip.Addr.Compare)
		for _, ip := range ips {
			ingress = append(ingress, corev1.LoadBalancerIngress{
				IP:     ip.String(),
				IPMode: ptr.To(corev1.LoadBalancerIPModeVIP),
				Ports:  slices.Clone(ports),
			})
		}
	}
	if len(ingress) == 0 {
		return nil, fmt.Sprintf("no node that may serve it has an %s address", strings.Join(fams, " or "))
	}
	return ingress, ""
}

// decision is what a Service's load balancer status should be.
type decision struct {
	Service *corev1.Service
	// Ingress is the status.loadBalancer.ingress it should have; nil for
	// none.
	Ingress []corev1.LoadBalancerIngress
	// Reason and Message, when set, are the Warning Event that says why
	// Ingress is empty.
	Reason, Message string
}

// decide is the status every one of skiff's Services should have, sorted by
// namespace/name. localNodes returns the names of the nodes with a ready
// endpoint of a Service; it is asked only about Services whose
// externalTrafficPolicy is Local.
func decide(services []*corev1.Service, nodes []*corev1.Node, localNodes func(*corev1.Service) map[string]bool, reserved map[portKey]string) []decision {
	pending := allocate(services, reserved)
	eligible, eligibleWhy := eligibleNodes(nodes)
	var out []decision
	for _, svc := range services {
		if !manages(svc) {
			continue
		}
		d := decision{Service: svc}
		if clashes, ok := pending[svc.Namespace+"/"+svc.Name]; ok {
			d.Reason, d.Message = ReasonPortInUse, clashMessage(clashes)
			out = append(out, d)
			continue
		}
		var local map[string]bool
		if localTraffic(svc) {
			local = localNodes(svc)
		}
		ingress, why := ingressFor(svc, eligible, eligibleWhy, local)
		d.Ingress = ingress
		if why != "" {
			d.Reason, d.Message = ReasonUnavailable, "no node can serve this LoadBalancer Service: "+why
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b decision) int {
		return cmp.Or(cmp.Compare(a.Service.Namespace, b.Service.Namespace), cmp.Compare(a.Service.Name, b.Service.Name))
	})
	return out
}
