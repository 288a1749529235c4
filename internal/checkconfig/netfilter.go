package checkconfig

import (
	"bytes"
	"strings"
)

// brNetfilter makes bridged traffic pass through iptables, so that a pod
// reaches a Service whose endpoint sits on the same bridge. skiff loads it
// at start (modprobe br_netfilter) and only warns when it cannot, as this
// does.
func (h *host) brNetfilter() []Result {
	if !h.Node || h.Backend == "none" {
		return nil
	}
	f := feature{name: "br_netfilter", modules: []string{"br_netfilter"}, configs: []string{"CONFIG_BRIDGE_NETFILTER"}}
	return []Result{h.featureLine(f, h.exists("/proc/sys/net/bridge"),
		"without it pods may not reach Services whose endpoints are on the same node", false, "")}
}

// netfilterUse is a match or target of kube-proxy's iptables rules
// (pkg/proxy/iptables): conntrack state, comments naming each Service, the
// masquerade mark, random endpoint choice, port lists, local addresses,
// and masquerading.
type netfilterUse struct {
	feature
	// registered is the name the kernel lists it by in
	// /proc/net/ip_tables_matches or ip_tables_targets.
	registered string
	target     bool
}

func kubeProxyNetfilter() []netfilterUse {
	match := func(name string, configs ...string) netfilterUse {
		return netfilterUse{feature: feature{name: "-m " + name, modules: []string{"xt_" + name}, configs: configs}, registered: name}
	}
	return []netfilterUse{
		match("conntrack", "CONFIG_NETFILTER_XT_MATCH_CONNTRACK"),
		match("comment", "CONFIG_NETFILTER_XT_MATCH_COMMENT"),
		match("mark", "CONFIG_NETFILTER_XT_MATCH_MARK", "CONFIG_NETFILTER_XT_MARK"),
		match("statistic", "CONFIG_NETFILTER_XT_MATCH_STATISTIC"),
		match("multiport", "CONFIG_NETFILTER_XT_MATCH_MULTIPORT"),
		match("addrtype", "CONFIG_NETFILTER_XT_MATCH_ADDRTYPE"),
		{feature: feature{name: "-j MASQUERADE", modules: []string{"xt_MASQUERADE", "ipt_MASQUERADE"},
			configs: []string{"CONFIG_NETFILTER_XT_TARGET_MASQUERADE", "CONFIG_IP_NF_TARGET_MASQUERADE"}},
			registered: "MASQUERADE", target: true},
	}
}

// netfilterMatches checks what kube-proxy's rules use. The kernel's lists
// of registered matches and targets (/proc/net/ip_tables_matches and
// ip_tables_targets) are read first: they are small, work in a node
// container, and name built-in code that /sys/module does not. But they
// only list modules already loaded, and the kernel loads a missing one
// when a rule first uses it, so they can confirm and never deny: what they
// lack goes to probe, whose kernel config and module files decide what is
// definitely missing. Only check-config makes this check; a start does
// not, because iptables-nft renders some of these (comments) without the
// kernel's xt modules.
func (h *host) netfilterMatches() []Result {
	if !h.Node || !h.KubeProxy {
		return nil
	}
	matches := h.wordSet("/proc/net/ip_tables_matches")
	targets := h.wordSet("/proc/net/ip_tables_targets")
	var out []Result
	var found []string
	for _, u := range kubeProxyNetfilter() {
		registered := matches[u.registered]
		if u.target {
			registered = targets[u.registered]
		}
		r := h.featureLine(u.feature, registered, "kube-proxy's Service rules need it", true, "")
		if r.Status == OK {
			found = append(found, u.registered)
			continue
		}
		r.Text = "netfilter " + r.Text
		out = append(out, r)
	}
	if len(found) > 0 {
		ok := Result{Status: OK, Text: "netfilter matches and targets kube-proxy's rules use: " + strings.Join(found, " ")}
		out = append([]Result{ok}, out...)
	}
	return out
}

// wordSet is the set of first words of the lines of a /proc list.
func (h *host) wordSet(path string) map[string]bool {
	set := map[string]bool{}
	data, err := h.read(path)
	if err != nil {
		return set
	}
	for line := range bytes.Lines(data) {
		if f := bytes.Fields(line); len(f) > 0 {
			set[string(f[0])] = true
		}
	}
	return set
}
