package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// retryDump runs a netlink dump again when the kernel interrupted it
// because what it lists changed meanwhile (pods' veths come and go).
func retryDump[T any](f func() (T, error)) (T, error) {
	var v T
	var err error
	for range 10 {
		v, err = f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return v, err
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// findParent finds the host interface the overlay's traffic leaves by and
// this node's IPv4 address on it (see Config.Interface and Config.NodeIP).
func findParent(h *netlink.Handle, iface string, nodeIP net.IP) (netlink.Link, net.IP, error) {
	if nodeIP != nil {
		nodeIP = nodeIP.To4()
	}
	if iface != "" {
		link, err := h.LinkByName(iface)
		if err != nil {
			return nil, nil, fmt.Errorf("overlay interface %s: %w", iface, err)
		}
		addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(link, netlink.FAMILY_V4) })
		if err != nil {
			return nil, nil, fmt.Errorf("listing the addresses of %s: %w", iface, err)
		}
		if nodeIP == nil {
			for _, a := range addrs {
				if a.IP.IsGlobalUnicast() {
					return link, a.IP.To4(), nil
				}
			}
			return nil, nil, fmt.Errorf("overlay interface %s has no IPv4 address; give the node IP", iface)
		}
		found := false
		for _, a := range addrs {
			found = found || a.IP.Equal(nodeIP)
		}
		if !found {
			// Legitimate behind some NATs, so a warning: but the tunnel's
			// packets leave with a source address the host does not hold.
			klog.InfoS("Warning: the node IP is not an address of the overlay's interface", "nodeIP", nodeIP, "interface", iface)
		}
		return link, nodeIP, nil
	}
	if nodeIP != nil {
		addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_V4) })
		if err != nil {
			return nil, nil, fmt.Errorf("listing addresses: %w", err)
		}
		for _, a := range addrs {
			if a.IP.Equal(nodeIP) {
				link, err := h.LinkByIndex(a.LinkIndex)
				if err != nil {
					return nil, nil, fmt.Errorf("finding the interface of %s: %w", nodeIP, err)
				}
				return link, nodeIP, nil
			}
		}
		return nil, nil, fmt.Errorf("no interface of this host has the node IP %s, which the overlay's tunnel must start from; give a node IP of this host", nodeIP)
	}
	// Neither: the interface of the default route, as the kubelet picks
	// the node's address.
	routes, err := retryDump(func() ([]netlink.Route, error) { return h.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, nil, fmt.Errorf("listing routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if r.LinkIndex == 0 {
			continue
		}
		link, err := h.LinkByIndex(r.LinkIndex)
		if err != nil {
			continue
		}
		return findParent(h, link.Attrs().Name, nil)
	}
	return nil, nil, errors.New("no default route to find the node's interface by; give the node IP")
}

// ensureDevice creates the vxlan device, or checks the one there: a device
// left by an earlier run is kept as it is when it fits (so the pods' traffic
// never stops across a restart), fixed when only its MTU, MAC or state
// differ, and made anew when its tunnel settings differ.
func (o *Overlay) ensureDevice() (*netlink.Vxlan, error) {
	want := &netlink.Vxlan{
		LinkAttrs:    netlink.LinkAttrs{Name: DeviceName, MTU: o.mtu, HardwareAddr: o.mac},
		VxlanId:      VNI,
		VtepDevIndex: o.parent.Attrs().Index,
		SrcAddr:      o.nodeIP,
		Port:         Port,
		// No learning: the FDB comes from the API server only. Nothing
		// else either (no multicast group, no l2/l3 miss): peers are
		// known, not discovered.
		Learning: false,
	}
	l, err := o.h.LinkByName(DeviceName)
	switch {
	case err == nil:
		if vx, ok := l.(*netlink.Vxlan); ok && vx.VxlanId == want.VxlanId && vx.VtepDevIndex == want.VtepDevIndex &&
			vx.SrcAddr.Equal(want.SrcAddr) && vx.Port == want.Port && !vx.Learning && vx.Group == nil {
			return vx, o.fixDevice(vx)
		}
		klog.InfoS("Replacing the vxlan device, whose tunnel settings differ from this run's", "device", DeviceName)
		if err := o.h.LinkDel(l); err != nil && !errors.Is(err, syscall.ENODEV) {
			return nil, fmt.Errorf("deleting %s: %w", DeviceName, err)
		}
	case !isNotFound(err):
		return nil, fmt.Errorf("finding %s: %w", DeviceName, err)
	}
	if err := o.h.LinkAdd(want); err != nil {
		switch {
		case errors.Is(err, unix.EOPNOTSUPP):
			return nil, fmt.Errorf("creating %s: %w; this kernel lacks vxlan (try: modprobe vxlan), or use --flannel-backend host-gw", DeviceName, err)
		case errors.Is(err, unix.EEXIST), errors.Is(err, unix.EADDRINUSE):
			return nil, fmt.Errorf("creating %s: %w; another vxlan device (flannel's flannel.1?) already uses VNI %d on UDP port %d", DeviceName, err, VNI, Port)
		}
		return nil, fmt.Errorf("creating %s: %w", DeviceName, err)
	}
	l, err = o.h.LinkByName(DeviceName)
	if err != nil {
		return nil, fmt.Errorf("finding %s: %w", DeviceName, err)
	}
	vx, ok := l.(*netlink.Vxlan)
	if !ok {
		return nil, fmt.Errorf("%s is a %s link, not vxlan", DeviceName, l.Type())
	}
	if err := o.h.LinkSetUp(vx); err != nil {
		return nil, fmt.Errorf("bringing %s up: %w", DeviceName, err)
	}
	klog.InfoS("Created the vxlan device", "device", DeviceName, "mtu", o.mtu, "mac", o.mac, "local", o.nodeIP, "parent", o.parent.Attrs().Name)
	return vx, nil
}

// fixDevice puts back the MTU, MAC and up state of a device that is there.
func (o *Overlay) fixDevice(vx *netlink.Vxlan) error {
	if vx.MTU != o.mtu {
		if err := o.h.LinkSetMTU(vx, o.mtu); err != nil {
			return fmt.Errorf("setting the MTU of %s to %d: %w", DeviceName, o.mtu, err)
		}
	}
	if !bytes.Equal(vx.HardwareAddr, o.mac) {
		if err := o.h.LinkSetHardwareAddr(vx, o.mac); err != nil {
			return fmt.Errorf("setting the MAC of %s: %w", DeviceName, err)
		}
	}
	if vx.Flags&net.FlagUp == 0 {
		if err := o.h.LinkSetUp(vx); err != nil {
			return fmt.Errorf("bringing %s up: %w", DeviceName, err)
		}
	}
	return nil
}

// removeDevice deletes the vxlan device; it says whether there was one.
func removeDevice(h *netlink.Handle) (bool, error) {
	l, err := h.LinkByName(DeviceName)
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("finding %s: %w", DeviceName, err)
	}
	if err := h.LinkDel(l); err != nil {
		if errors.Is(err, syscall.ENODEV) {
			return false, nil
		}
		return false, fmt.Errorf("deleting %s: %w", DeviceName, err)
	}
	return true, nil
}

// ensureAddress gives the vxlan device the network address of this node's
// pod CIDR, /32, and takes away any other (the node's pod CIDR changed).
// It is the source of packets the host itself sends to other nodes' pods,
// and the gateway address the other nodes route this node's pods by.
func (o *Overlay) ensureAddress(link netlink.Link, podCIDR *net.IPNet) error {
	want := &net.IPNet{IP: podCIDR.IP.To4(), Mask: net.CIDRMask(32, 32)}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return o.h.AddrList(link, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("listing the addresses of %s: %w", DeviceName, err)
	}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			have = true
			continue
		}
		if err := o.h.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("removing address %s from %s: %w", a.IPNet, DeviceName, err)
		}
		klog.InfoS("Removed a stale address from the vxlan device", "device", DeviceName, "address", a.IPNet)
	}
	if have {
		return nil
	}
	if err := o.h.AddrReplace(link, &netlink.Addr{IPNet: want}); err != nil {
		return fmt.Errorf("adding address %s to %s: %w", want, DeviceName, err)
	}
	klog.InfoS("Set the vxlan device's address", "device", DeviceName, "address", want)
	return nil
}

// ownRoutes lists the routes the overlay installed (RouteProtocol, main
// table), wherever they are.
func ownRoutes(h *netlink.Handle) ([]netlink.Route, error) {
	return retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_V4,
			&netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	})
}

// applyRoutes makes the overlay's routes exactly want, out of linkIndex:
// missing or different ones replaced, those to pod CIDRs no longer wanted
// deleted. Routes that are right are left alone, so a resync changes
// nothing in a kernel that is as it should be.
func (o *Overlay) applyRoutes(want []routeSpec, linkIndex int, onlink bool) error {
	have, err := ownRoutes(o.h)
	if err != nil {
		return fmt.Errorf("listing the overlay's routes: %w", err)
	}
	byDst := map[string]netlink.Route{}
	for _, r := range have {
		if r.Dst != nil {
			byDst[r.Dst.String()] = r
		}
	}
	var errs []error
	for _, w := range want {
		r := netlink.Route{
			LinkIndex: linkIndex,
			Dst:       w.Dst,
			Gw:        w.Gw,
			Protocol:  RouteProtocol,
			Table:     unix.RT_TABLE_MAIN,
			Scope:     netlink.SCOPE_UNIVERSE,
		}
		if onlink {
			r.Flags = int(netlink.FLAG_ONLINK)
		}
		key := w.Dst.String()
		h, ok := byDst[key]
		delete(byDst, key)
		if ok && h.LinkIndex == r.LinkIndex && h.Gw.Equal(r.Gw) && h.Flags&int(netlink.FLAG_ONLINK) == r.Flags && h.Priority == 0 {
			continue
		}
		if err := o.h.RouteReplace(&r); err != nil {
			hint := ""
			if !onlink && errors.Is(err, unix.ENETUNREACH) {
				hint = "; host-gw needs the nodes on one layer-2 network (else use vxlan)"
			}
			errs = append(errs, fmt.Errorf("route %s via %s: %w%s", w.Dst, w.Gw, err, hint))
		}
	}
	for _, r := range byDst {
		if err := o.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("deleting route %s: %w", describeRoute(r), err))
		}
	}
	return errors.Join(errs...)
}

// applyNeighs makes the permanent neighbour entries on the vxlan device
// exactly want. Entries the kernel made itself (not permanent) are its
// business and stay.
func (o *Overlay) applyNeighs(want []neighSpec, linkIndex int) error {
	have, err := retryDump(func() ([]netlink.Neigh, error) { return o.h.NeighList(linkIndex, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("listing the neighbours on %s: %w", DeviceName, err)
	}
	byIP := map[string]netlink.Neigh{}
	for _, n := range have {
		if n.State&netlink.NUD_PERMANENT != 0 {
			byIP[n.IP.String()] = n
		}
	}
	var errs []error
	for _, w := range want {
		key := w.IP.String()
		h, ok := byIP[key]
		delete(byIP, key)
		if ok && bytes.Equal(h.HardwareAddr, w.MAC) {
			continue
		}
		n := &netlink.Neigh{
			LinkIndex:    linkIndex,
			Family:       netlink.FAMILY_V4,
			State:        netlink.NUD_PERMANENT,
			Type:         unix.RTN_UNICAST,
			IP:           w.IP,
			HardwareAddr: w.MAC,
		}
		if err := o.h.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("neighbour %s lladdr %s: %w", w.IP, w.MAC, err))
		}
	}
	for _, n := range byIP {
		if err := o.h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("deleting neighbour %s: %w", n.IP, err))
		}
	}
	return errors.Join(errs...)
}

// applyFDB makes the FDB of the vxlan device exactly want. The device is
// the overlay's alone, with learning off: whatever else is in its FDB is
// stale.
func (o *Overlay) applyFDB(want []fdbSpec, linkIndex int) error {
	have, err := retryDump(func() ([]netlink.Neigh, error) { return o.h.NeighList(linkIndex, unix.AF_BRIDGE) })
	if err != nil {
		return fmt.Errorf("listing the FDB of %s: %w", DeviceName, err)
	}
	key := func(mac net.HardwareAddr, ip net.IP) string { return mac.String() + " " + ip.String() }
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[key(w.MAC, w.Dst)] = true
	}
	var errs []error
	present := map[string]bool{}
	// Stale entries first: a MAC whose node moved to another IP must lose
	// its old destination, or the frames would go to both.
	for _, n := range have {
		k := key(n.HardwareAddr, n.IP)
		if wanted[k] {
			present[k] = true
			continue
		}
		del := &netlink.Neigh{LinkIndex: linkIndex, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, IP: n.IP, HardwareAddr: n.HardwareAddr}
		if err := o.h.NeighDel(del); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("deleting FDB entry %s dst %s: %w", n.HardwareAddr, n.IP, err))
		}
	}
	for _, w := range want {
		if present[key(w.MAC, w.Dst)] {
			continue
		}
		n := &netlink.Neigh{
			LinkIndex:    linkIndex,
			Family:       unix.AF_BRIDGE,
			State:        netlink.NUD_PERMANENT,
			Flags:        netlink.NTF_SELF,
			IP:           w.Dst,
			HardwareAddr: w.MAC,
		}
		if err := o.h.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("FDB entry %s dst %s: %w", w.MAC, w.Dst, err))
		}
	}
	return errors.Join(errs...)
}
