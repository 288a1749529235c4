package network

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"

	"github.com/coreos/go-iptables/iptables"
	"k8s.io/klog/v2"
)

// skiff's own chains. Everything skiff adds to iptables is in these, plus
// one jump into each from a built-in chain.
const (
	ChainPrefix      = "SKIFF-"
	PostroutingChain = "SKIFF-POSTROUTING"
	ForwardChain     = "SKIFF-FORWARD"
)

// Rule is one iptables rule: Spec is what follows "-A Chain".
type Rule struct {
	Table string
	Chain string
	Spec  []string
}

func comment(text string) []string {
	return []string{"-m", "comment", "--comment", "skiff: " + text}
}

// Rules returns what the pod network needs in iptables for the cluster
// CIDRs of one family: the contents of skiff's chains, in order, and the
// jumps into them from built-in chains. A missing jump is added at the top
// of its chain: Docker sets the FORWARD policy to DROP, and a jump further
// down could come after a rule that already decided. (kube-proxy, which
// starts later, puts its own jumps above ours; that is as it should be.)
func Rules(cidrs []*net.IPNet, randomFully bool) (rules, jumps []Rule) {
	for _, c := range cidrs {
		cidr := c.String()
		multicast := "224.0.0.0/4"
		if c.IP.To4() == nil {
			multicast = "ff00::/8"
		}
		masq := append(append([]string{"-s", cidr}, comment("masquerade pods leaving the cluster network")...), "-j", "MASQUERADE")
		if randomFully {
			masq = append(masq, "--random-fully")
		}
		rules = append(rules,
			Rule{"nat", PostroutingChain, append(append([]string{"-s", cidr, "-d", cidr}, comment("pod to pod, no masquerade")...), "-j", "RETURN")},
			Rule{"nat", PostroutingChain, append(append([]string{"-s", cidr, "-d", multicast}, comment("multicast, no masquerade")...), "-j", "RETURN")},
			Rule{"nat", PostroutingChain, masq},
			Rule{"filter", ForwardChain, append(append([]string{"-s", cidr}, comment("forward from pods")...), "-j", "ACCEPT")},
			Rule{"filter", ForwardChain, append(append([]string{"-d", cidr}, comment("forward to pods")...), "-j", "ACCEPT")},
		)
	}
	jumps = []Rule{
		{"nat", "POSTROUTING", append(comment("pod masquerade"), "-j", PostroutingChain)},
		{"filter", "FORWARD", append(comment("pod forwarding"), "-j", ForwardChain)},
	}
	return rules, jumps
}

// newIPTables returns the iptables (or ip6tables) command, with an error
// that says what to install when it is missing.
func newIPTables(proto iptables.Protocol) (*iptables.IPTables, error) {
	ipt, err := iptables.New(iptables.IPFamily(proto), iptables.Timeout(5))
	if err != nil {
		name := "iptables"
		if proto == iptables.ProtocolIPv6 {
			name = "ip6tables"
		}
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("%s not found; install the iptables package", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ipt, nil
}

// ensureAllRules installs the rules for each family of the cluster CIDRs.
func ensureAllRules(cidrs []*net.IPNet, log bool) error {
	var v4, v6 []*net.IPNet
	for _, c := range cidrs {
		if c.IP.To4() != nil {
			v4 = append(v4, c)
		} else {
			v6 = append(v6, c)
		}
	}
	for _, fam := range []struct {
		proto iptables.Protocol
		cidrs []*net.IPNet
	}{{iptables.ProtocolIPv4, v4}, {iptables.ProtocolIPv6, v6}} {
		if len(fam.cidrs) == 0 {
			continue
		}
		ipt, err := newIPTables(fam.proto)
		if err != nil {
			return err
		}
		changed, err := ensureRules(ipt, fam.cidrs)
		if err != nil {
			return err
		}
		var names []string
		for _, c := range fam.cidrs {
			names = append(names, c.String())
		}
		if changed && log {
			klog.InfoS("Installed the pod network's iptables rules", "clusterCIDR", names)
		} else if changed {
			klog.InfoS("Put back the pod network's iptables rules, which something had removed", "clusterCIDR", names)
		}
	}
	return nil
}

// ensureRules makes skiff's chains hold exactly their rules and the jumps
// into them exist, changing nothing when all is in place already. It says
// whether it had to change anything.
func ensureRules(ipt *iptables.IPTables, cidrs []*net.IPNet) (bool, error) {
	rules, jumps := Rules(cidrs, ipt.HasRandomFully())
	changed := false
	byChain := map[[2]string][]Rule{}
	var order [][2]string
	for _, r := range rules {
		k := [2]string{r.Table, r.Chain}
		if _, ok := byChain[k]; !ok {
			order = append(order, k)
		}
		byChain[k] = append(byChain[k], r)
	}
	for _, k := range order {
		c, err := ensureChain(ipt, k[0], k[1], byChain[k])
		if err != nil {
			return changed, err
		}
		changed = changed || c
	}
	for _, j := range jumps {
		ok, err := ipt.Exists(j.Table, j.Chain, j.Spec...)
		if err != nil {
			return changed, fmt.Errorf("checking %s/%s: %w", j.Table, j.Chain, err)
		}
		if ok {
			continue
		}
		if err := ipt.Insert(j.Table, j.Chain, 1, j.Spec...); err != nil {
			return changed, fmt.Errorf("adding the jump from %s/%s to %s: %w", j.Table, j.Chain, j.Spec[len(j.Spec)-1], err)
		}
		changed = true
	}
	return changed, nil
}

// ensureChain leaves the chain alone when it holds exactly want; otherwise
// it creates or flushes it and adds want.
func ensureChain(ipt *iptables.IPTables, table, chain string, want []Rule) (bool, error) {
	exists, err := ipt.ChainExists(table, chain)
	if err != nil {
		return false, fmt.Errorf("listing %s chains: %w", table, err)
	}
	if exists {
		have, err := ipt.List(table, chain)
		if err != nil {
			return false, fmt.Errorf("listing %s/%s: %w", table, chain, err)
		}
		n := 0
		for _, l := range have {
			if strings.HasPrefix(l, "-A ") {
				n++
			}
		}
		same := n == len(want)
		for i := 0; same && i < len(want); i++ {
			if ok, err := ipt.Exists(table, chain, want[i].Spec...); err != nil || !ok {
				same = false
			}
		}
		if same {
			return false, nil
		}
	}
	if err := ipt.ClearChain(table, chain); err != nil {
		return false, fmt.Errorf("creating %s/%s: %w", table, chain, err)
	}
	for _, r := range want {
		err := ipt.Append(table, chain, r.Spec...)
		if err != nil && r.Spec[len(r.Spec)-1] == "--random-fully" {
			// The binary knows the option but the kernel may not.
			err = ipt.Append(table, chain, r.Spec[:len(r.Spec)-1]...)
		}
		if err != nil {
			return false, fmt.Errorf("adding to %s/%s: %w", table, chain, err)
		}
	}
	return true, nil
}

// RemoveChains removes, in each table, the chains that remove selects,
// after deleting every rule elsewhere that jumps or goes to one of them.
// Other chains and rules are left as they are. It returns what it removed
// as "table/chain".
func RemoveChains(ipt *iptables.IPTables, tables []string, remove func(chain string) bool) ([]string, error) {
	var removed []string
	var errs []error
	for _, table := range tables {
		chains, err := ipt.ListChains(table)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing %s chains: %w", table, err))
			continue
		}
		selected := map[string]bool{}
		var keep []string
		for _, c := range chains {
			if remove(c) {
				selected[c] = true
			} else {
				keep = append(keep, c)
			}
		}
		if len(selected) == 0 {
			continue
		}
		for _, c := range keep {
			lines, err := ipt.List(table, c)
			if err != nil {
				errs = append(errs, fmt.Errorf("listing %s/%s: %w", table, c, err))
				continue
			}
			for _, l := range lines {
				args, err := SplitRule(l)
				if err != nil || len(args) < 2 || args[0] != "-A" {
					continue
				}
				if !selected[RuleTarget(args)] {
					continue
				}
				if err := ipt.Delete(table, c, args[2:]...); err != nil {
					errs = append(errs, fmt.Errorf("deleting %q from %s: %w", l, table, err))
				}
			}
		}
		// Flush all first: the chains may jump to one another.
		for _, c := range chains {
			if selected[c] {
				if err := ipt.ClearChain(table, c); err != nil {
					errs = append(errs, fmt.Errorf("flushing %s/%s: %w", table, c, err))
				}
			}
		}
		for _, c := range chains {
			if selected[c] {
				if err := ipt.DeleteChain(table, c); err != nil {
					errs = append(errs, fmt.Errorf("deleting %s/%s: %w", table, c, err))
					continue
				}
				removed = append(removed, table+"/"+c)
			}
		}
	}
	return removed, errors.Join(errs...)
}

// RuleTarget is the chain or target a rule (as words of iptables -S)
// jumps or goes to, or "".
func RuleTarget(args []string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-j" || args[i] == "--jump" || args[i] == "-g" || args[i] == "--goto" {
			return args[i+1]
		}
	}
	return ""
}

// SplitRule splits a line of iptables -S output into its words, undoing
// the double quotes (and backslash escapes in them) iptables puts around
// words with spaces, such as comments.
func SplitRule(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case quoted && ch == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case ch == '"':
			quoted = !quoted
			inWord = true
		case !quoted && (ch == ' ' || ch == '\t'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
