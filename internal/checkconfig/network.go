package checkconfig

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// iptablesTools are what the node runs: kube-proxy writes its rules with
// iptables-restore and reads them back with iptables-save, and skiff's own
// chains (internal/network) use iptables. One package has all three.
var iptablesTools = []string{"iptables", "iptables-save", "iptables-restore"}

// iptables checks that the tools are on PATH — a start looks only that far
// — and, for check-config, which version and backend iptables is. Without
// kube-proxy and with --flannel-backend none nothing on the node uses them.
func (h *host) iptables() []Result {
	if !h.Node || (!h.KubeProxy && h.Backend == "none") {
		return nil
	}
	var missing []string
	path := ""
	for _, tool := range iptablesTools {
		p, err := h.lookPath(tool)
		switch {
		case err != nil:
			missing = append(missing, tool)
		case tool == "iptables":
			path = p
		}
	}
	if len(missing) > 0 {
		verb, it := "is", "it"
		if len(missing) > 1 {
			verb, it = "are", "them"
		}
		return []Result{{Status: Missing,
			Text: fmt.Sprintf("%s %s not on PATH; kube-proxy and the pod network need %s", strings.Join(missing, ", "), verb, it),
			Fix:  h.iptablesFix(missing[0], it)}}
	}
	if !h.full {
		return []Result{{Status: OK, Text: "iptables at " + path}}
	}
	return []Result{h.iptablesVersion(path)}
}

// iptablesFix is the one thing to do about tools not on PATH: widen PATH
// when they are installed where PATH does not look (a service or sudo with
// a short PATH), else install the package. it is "it" or "them".
func (h *host) iptablesFix(tool, it string) string {
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"} {
		if h.exists(filepath.Join(dir, tool)) {
			return fmt.Sprintf("%s is in %s, which is not on PATH: add %s to PATH", tool, dir, dir)
		}
	}
	if cmd := h.installCommand(); cmd != "" {
		return "install " + it + " (" + cmd + ")"
	}
	return "install your distribution's iptables package"
}

// installCommand is how this distribution installs iptables, from
// /etc/os-release; empty when it is not one we know.
func (h *host) installCommand() string {
	data, err := h.read("/etc/os-release")
	if err != nil {
		return ""
	}
	var ids []string
	for line := range bytes.Lines(data) {
		key, value, ok := strings.Cut(strings.TrimSpace(string(line)), "=")
		if ok && (key == "ID" || key == "ID_LIKE") {
			ids = append(ids, strings.Fields(strings.Trim(value, `"'`))...)
		}
	}
	for _, id := range ids {
		switch id {
		case "debian", "ubuntu", "raspbian":
			return "apt-get install iptables"
		case "fedora", "rhel", "centos", "rocky", "almalinux":
			return "dnf install iptables-nft"
		case "alpine":
			return "apk add iptables"
		case "suse", "opensuse", "sles":
			return "zypper install iptables"
		case "arch":
			return "pacman -S iptables"
		}
	}
	return ""
}

var iptablesVersionRE = regexp.MustCompile(`v(\d+)\.(\d+)\.(\d+)(?:\s+\((\w+)\))?`)

// iptablesVersion names the version and backend (nf_tables or legacy) of
// the iptables on PATH. iptables 1.8.0 to 1.8.3 in nf_tables mode
// mishandle rules kube-proxy writes, which k3s's check-config refuses too;
// it warns here, as a distribution may carry the fixes.
func (h *host) iptablesVersion(path string) Result {
	out, err := h.output(path, "--version")
	if err != nil {
		return Result{Status: Warning, Text: fmt.Sprintf("iptables at %s does not run: %v: %s", path, err, strings.TrimSpace(out)),
			Fix: "reinstall the iptables package"}
	}
	m := iptablesVersionRE.FindStringSubmatch(out)
	if m == nil {
		return Result{Status: OK, Text: fmt.Sprintf("iptables at %s (%s)", path, strings.TrimSpace(out))}
	}
	backend := m[4]
	if backend == "" {
		backend = "legacy" // before 1.8 there was no other
	}
	text := fmt.Sprintf("iptables v%s.%s.%s (%s backend) at %s", m[1], m[2], m[3], backend, path)
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	patch, _ := strconv.Atoi(m[3])
	if backend == "nf_tables" && major == 1 && minor == 8 && patch < 4 {
		return Result{Status: Warning, Text: text + "; kube-proxy's rules hit bugs of nf_tables mode before v1.8.4",
			Fix: "use iptables v1.8.4 or later, or the legacy backend (update-alternatives --set iptables /usr/sbin/iptables-legacy)"}
	}
	return Result{Status: OK, Text: text}
}

// ipForward is the switch that lets the node route pods' traffic.
const ipForward = "/proc/sys/net/ipv4/ip_forward"

// forwarding checks IP forwarding. skiff's pod network turns it on itself
// at start (internal/network, enableForwarding) and stops when it cannot,
// so off is fine where the file can be written, and definitely fatal
// where it cannot (a container with a read-only /proc/sys). With
// --flannel-backend none that is the user's CNI's business.
func (h *host) forwarding() []Result {
	if !h.Node {
		return nil
	}
	data, err := h.read(ipForward)
	if err != nil {
		return []Result{{Status: Warning, Text: fmt.Sprintf("IP forwarding: cannot read %s: %v", ipForward, err)}}
	}
	switch {
	case strings.TrimSpace(string(data)) == "1":
		return []Result{{Status: OK, Text: "IP forwarding is on"}}
	case h.Backend == "none":
		return []Result{{Status: Warning, Text: "IP forwarding is off; with --flannel-backend none your CNI must turn it on",
			Fix: "sysctl -w net.ipv4.ip_forward=1, if your CNI does not"}}
	case h.writable(h.path(ipForward)):
		return []Result{{Status: OK, Text: "IP forwarding is off; skiff turns it on at start"}}
	default:
		return []Result{{Status: Missing, Text: "IP forwarding is off, and skiff cannot turn it on: " + ipForward + " is read-only here",
			Fix: "turn it on from outside (sysctl -w net.ipv4.ip_forward=1 on the host, or docker run --sysctl net.ipv4.ip_forward=1)"}}
	}
}
