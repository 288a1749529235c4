package checkconfig

import (
	"os"
	"strings"
	"testing"
)

func TestIPTables(t *testing.T) {
	expect(t, find(t, fakeHost(t, goodHost(), nodeOptions(t), true).run(), "iptables"), OK,
		"iptables v1.8.9 (nf_tables backend) at /usr/sbin/iptables")

	notOnPath := func(h *host) *host {
		h.lookPath = func(string) (string, error) { return "", os.ErrNotExist }
		return h
	}
	_, err := start(notOnPath(fakeHost(t, goodHost(), nodeOptions(t), false)))
	if err == nil || err.Error() != "missing: iptables, iptables-save, iptables-restore are not on PATH; kube-proxy and the pod network need them: install them (apt-get install iptables)" {
		t.Errorf("start error = %v", err)
	}

	// Installed, but where a short PATH does not look.
	files := goodHost()
	files["/usr/sbin/iptables"] = "#!/bin/sh\n"
	h := notOnPath(fakeHost(t, files, nodeOptions(t), true))
	expect(t, find(t, h.run(), "iptables"), Missing, "iptables is in /usr/sbin, which is not on PATH: add /usr/sbin to PATH")

	files = goodHost()
	files["/etc/os-release"] = "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"
	expect(t, find(t, notOnPath(fakeHost(t, files, nodeOptions(t), true)).run(), "iptables"), Missing, "install them (dnf install iptables-nft)")
	delete(files, "/etc/os-release")
	expect(t, find(t, notOnPath(fakeHost(t, files, nodeOptions(t), true)).run(), "iptables"), Missing, "install your distribution's iptables package")

	// Only iptables-restore missing: named alone.
	h = fakeHost(t, goodHost(), nodeOptions(t), true)
	h.lookPath = func(f string) (string, error) {
		if f == "iptables-restore" {
			return "", os.ErrNotExist
		}
		return "/usr/sbin/" + f, nil
	}
	expect(t, find(t, h.run(), "iptables"), Missing, "iptables-restore is not on PATH; kube-proxy and the pod network need it: install it (apt-get install iptables)")

	for out, want := range map[string]struct {
		st   Status
		text string
	}{
		"iptables v1.8.7 (legacy)\n":   {OK, "iptables v1.8.7 (legacy backend)"},
		"iptables v1.6.1\n":            {OK, "iptables v1.6.1 (legacy backend)"},
		"iptables v1.8.2 (nf_tables)":  {Warning, "bugs of nf_tables mode before v1.8.4"},
		"iptables v1.8.10 (nf_tables)": {OK, "iptables v1.8.10 (nf_tables backend)"},
	} {
		h := fakeHost(t, goodHost(), nodeOptions(t), true)
		h.output = func(string, ...string) (string, error) { return out, nil }
		expect(t, find(t, h.run(), "iptables"), want.st, want.text)
	}

	// A start does not run iptables: a process costs milliseconds.
	h = fakeHost(t, goodHost(), nodeOptions(t), false)
	h.output = func(string, ...string) (string, error) { t.Fatal("a start ran iptables --version"); return "", nil }
	expect(t, find(t, h.run(), "iptables"), OK, "iptables at /usr/sbin/iptables")

	// Nothing on the node uses iptables without kube-proxy and with the
	// user's own CNI.
	o := nodeOptions(t)
	o.KubeProxy, o.Backend = false, "none"
	none(t, notOnPath(fakeHost(t, goodHost(), o, true)).run(), "iptables")
}

func TestForwarding(t *testing.T) {
	off := goodHost()
	off["/proc/sys/net/ipv4/ip_forward"] = "0\n"
	expect(t, find(t, fakeHost(t, off, nodeOptions(t), true).run(), "IP forwarding"), OK, "IP forwarding is off; skiff turns it on at start")

	h := fakeHost(t, off, nodeOptions(t), false)
	h.writable = func(string) bool { return false }
	_, err := start(h)
	if err == nil || !strings.Contains(err.Error(), "skiff cannot turn it on: /proc/sys/net/ipv4/ip_forward is read-only here") || !strings.Contains(err.Error(), "--sysctl net.ipv4.ip_forward=1") {
		t.Errorf("start error = %v", err)
	}

	o := nodeOptions(t)
	o.Backend = "none"
	h = fakeHost(t, off, o, true)
	h.writable = func(string) bool { return false }
	expect(t, find(t, h.run(), "IP forwarding"), Warning, "your CNI must turn it on")
}
