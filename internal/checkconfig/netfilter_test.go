package checkconfig

import (
	"strings"
	"testing"
)

func TestNetfilterMatches(t *testing.T) {
	const all = "netfilter matches and targets kube-proxy's rules use: conntrack comment mark statistic multiport addrtype MASQUERADE"
	expect(t, find(t, fakeHost(t, goodHost(), nodeOptions(t), true).run(), "netfilter"), OK, all)

	// Registered in /proc: there, whatever the config says.
	files := goodHost()
	files["/proc/config.gz"] = "CONFIG_VETH=y\nCONFIG_BRIDGE=y\nCONFIG_VXLAN=y\n"
	expect(t, find(t, fakeHost(t, files, nodeOptions(t), true).run(), "netfilter"), OK, all)

	// Not registered and not in the kernel: definitely missing, for
	// check-config; a start does not look.
	files = goodHost()
	files["/proc/net/ip_tables_matches"] = strings.Replace(files["/proc/net/ip_tables_matches"], "statistic\n", "", 1)
	files["/proc/config.gz"] = withoutOptions(goodConfig, "CONFIG_NETFILTER_XT_MATCH_STATISTIC")
	results := fakeHost(t, files, nodeOptions(t), true).run()
	expect(t, find(t, results, "netfilter matches"), OK, "conntrack comment mark multiport addrtype MASQUERADE")
	expect(t, find(t, results, "netfilter -m statistic"), Missing,
		"not in this kernel (CONFIG_NETFILTER_XT_MATCH_STATISTIC is not set in /proc/config.gz); kube-proxy's Service rules need it")
	if _, err := start(fakeHost(t, files, nodeOptions(t), false)); err != nil {
		t.Errorf("a start checked the netfilter matches: %v", err)
	}

	// An older kernel's MASQUERADE: ipt_MASQUERADE, a module not loaded yet.
	files = goodHost()
	files["/proc/net/ip_tables_targets"] = "ERROR\n"
	files["/proc/config.gz"] = withoutOptions(goodConfig, "CONFIG_NETFILTER_XT_TARGET_MASQUERADE") + "CONFIG_IP_NF_TARGET_MASQUERADE=m\n"
	files["/lib/modules/"+testRelease+"/modules.dep"] = "kernel/net/ipv4/netfilter/ipt_MASQUERADE.ko: kernel/net/ipv4/netfilter/nf_nat_ipv4.ko\n"
	expect(t, find(t, fakeHost(t, files, nodeOptions(t), true).run(), "netfilter"), OK, all)

	// Without kube-proxy nothing uses them.
	o := nodeOptions(t)
	o.KubeProxy = false
	none(t, fakeHost(t, files, o, true).run(), "netfilter")
}

func TestBrNetfilterOnlyWarns(t *testing.T) {
	files := goodHost()
	delete(files, "/proc/sys/net/bridge/bridge-nf-call-iptables")
	files["/proc/config.gz"] = withoutOptions(goodConfig, "CONFIG_BRIDGE_NETFILTER")
	expect(t, find(t, fakeHost(t, files, nodeOptions(t), true).run(), "br_netfilter:"), Warning,
		"not in this kernel", "pods may not reach Services whose endpoints are on the same node")
}
