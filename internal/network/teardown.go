package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netlink"
)

// Teardown removes what the pod network put on the host: skiff's iptables
// chains and the jumps into them (IPv4 and IPv6, wherever the command is
// present), the bridge and the veths still attached to it, and, if
// cfg.CNIConfDir is set, the conflist. Only cfg.BridgeName and
// cfg.CNIConfDir are read. Missing pieces are not an error.
func Teardown(cfg Config) error {
	var errs []error
	for _, proto := range []iptables.Protocol{iptables.ProtocolIPv4, iptables.ProtocolIPv6} {
		ipt, err := newIPTables(proto)
		if err != nil {
			continue // nothing can have been installed with it
		}
		if _, err := RemoveChains(ipt, []string{"filter", "nat"}, IsSkiffChain); err != nil {
			errs = append(errs, err)
		}
	}
	bridge := cfg.BridgeName
	if bridge == "" {
		bridge = DefaultBridgeName
	}
	if _, err := DeleteBridge(bridge); err != nil {
		errs = append(errs, err)
	}
	if cfg.CNIConfDir != "" {
		path := filepath.Join(cfg.CNIConfDir, ConflistName)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// IsSkiffChain says whether an iptables chain is one of skiff's own.
func IsSkiffChain(chain string) bool { return strings.HasPrefix(chain, ChainPrefix) }

// DeleteBridge deletes the veths attached to the named bridge, then the
// bridge, and returns the names of the links it deleted. A missing bridge
// is not an error.
func DeleteBridge(name string) ([]string, error) {
	br, err := netlink.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("finding %s: %w", name, err)
	}
	links, err := ListLinks()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	var deleted []string
	var errs []error
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index && l.Type() == "veth" {
			if err := netlink.LinkDel(l); err != nil {
				if !errors.Is(err, syscall.ENODEV) { // ENODEV: gone with its pod's netns meanwhile
					errs = append(errs, fmt.Errorf("deleting %s: %w", l.Attrs().Name, err))
				}
				continue
			}
			deleted = append(deleted, l.Attrs().Name)
		}
	}
	if err := netlink.LinkDel(br); err != nil {
		errs = append(errs, fmt.Errorf("deleting %s: %w", name, err))
	} else {
		deleted = append(deleted, name)
	}
	return deleted, errors.Join(errs...)
}

// ListLinks lists the links of the current network namespace. A dump that
// the kernel interrupts because links changed meanwhile — veths vanish as
// their pods' namespaces close, which is exactly when teardown runs — is
// taken again.
func ListLinks() ([]netlink.Link, error) {
	var err error
	for range 10 {
		var links []netlink.Link
		links, err = netlink.LinkList()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return links, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}
