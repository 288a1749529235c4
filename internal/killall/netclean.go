package killall

import (
	"errors"
	"fmt"
	"strings"

	"github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netlink"

	"github.com/skiff-k8s/skiff/internal/network"
	"github.com/skiff-k8s/skiff/internal/overlay"
)

// chainPrefixes are the iptables chains killall removes: skiff's own,
// kube-proxy's and the kubelet's, the CNI plugins' (portmap's hostports),
// and flannel's. Docker's and everybody else's stay.
var chainPrefixes = []string{network.ChainPrefix, "KUBE-", "CNI-", "FLANNEL-"}

// chainToRemove says whether killall removes an iptables chain.
func chainToRemove(chain string) bool {
	for _, p := range chainPrefixes {
		if strings.HasPrefix(chain, p) {
			return true
		}
	}
	return false
}

// tables are those kube-proxy, the kubelet and the CNI plugins write to.
var tables = []string{"filter", "nat", "mangle"}

// removeOverlay removes what skiff's pod overlay installed: its vxlan
// device (overlay.DeviceName, with the routes, neighbour and FDB entries on
// it) and its routes on the host's own interfaces (host-gw), which deleting
// skiff's links would not take.
func removeOverlay() ([]string, error) { return overlay.Teardown(nil) }

// linkToRemove says whether a link other than the pod bridge and its veths
// is skiff's: the overlay's vxlan links (skiff.vxlan, which removeOverlay
// takes first, and any other skiff. link), and flannel's.
func linkToRemove(name string) bool {
	return strings.HasPrefix(name, "skiff.") || strings.HasPrefix(name, "flannel.") ||
		strings.HasPrefix(name, "flannel-")
}

// removeLinks deletes the pod bridge, the veths attached to it and the
// overlay links, in the current network namespace.
func removeLinks(bridge string) (deleted []string, err error) {
	deleted, err = network.DeleteBridge(bridge)
	links, lerr := network.ListLinks()
	if lerr != nil {
		return deleted, errors.Join(err, fmt.Errorf("listing links: %w", lerr))
	}
	errs := []error{err}
	for _, l := range links {
		if !linkToRemove(l.Attrs().Name) {
			continue
		}
		if derr := netlink.LinkDel(l); derr != nil {
			errs = append(errs, fmt.Errorf("deleting %s: %w", l.Attrs().Name, derr))
			continue
		}
		deleted = append(deleted, l.Attrs().Name)
	}
	return deleted, errors.Join(errs...)
}

// removeChains removes the chains chainToRemove selects, and the rules
// that jump to them, with iptables and with ip6tables where installed. It
// returns how many chains each removed ("iptables" -> 12).
func removeChains() (map[string]int, error) {
	counts := map[string]int{}
	var errs []error
	for _, fam := range []struct {
		name  string
		proto iptables.Protocol
	}{{"iptables", iptables.ProtocolIPv4}, {"ip6tables", iptables.ProtocolIPv6}} {
		ipt, err := iptables.New(iptables.IPFamily(fam.proto), iptables.Timeout(5))
		if err != nil {
			continue // not installed: nothing can have used it
		}
		removed, err := network.RemoveChains(ipt, tables, chainToRemove)
		counts[fam.name] = len(removed)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fam.name, err))
		}
	}
	return counts, errors.Join(errs...)
}
