package checkconfig

import (
	"fmt"
	"strings"
)

// namespace is a kind of Linux namespace, by its name in /proc/self/ns.
type namespace struct {
	name, config string
	// without is what a missing one costs; empty for those every
	// container needs: runc gives each its own mount, UTS, IPC, PID and
	// network namespace.
	without string
}

var namespaces = [...]namespace{
	{"mnt", "CONFIG_NAMESPACES", ""},
	{"uts", "CONFIG_UTS_NS", ""},
	{"ipc", "CONFIG_IPC_NS", ""},
	{"pid", "CONFIG_PID_NS", ""},
	{"net", "CONFIG_NET_NS", ""},
	{"user", "CONFIG_USER_NS", "pods with hostUsers: false cannot run; the others can"},
	{"cgroup", "CONFIG_CGROUPS", "containers see the host's cgroup paths; they run all the same"},
}

// namespaces checks /proc/self/ns: a kernel has a kind of namespace exactly
// when it lists it there.
func (h *host) namespaces() []Result {
	if !h.Node {
		return nil
	}
	var have, missing, configs []string
	var optional []Result
	for _, ns := range namespaces {
		switch {
		case h.exists("/proc/self/ns/" + ns.name):
			have = append(have, ns.name)
		case ns.without == "":
			missing = append(missing, ns.name)
			configs = append(configs, ns.config)
		default:
			optional = append(optional, Result{Status: Warning,
				Text: fmt.Sprintf("namespaces: this kernel has no %s namespace (no /proc/self/ns/%s): %s", ns.name, ns.name, ns.without),
				Fix:  "use a kernel built with " + ns.config})
		}
	}
	if len(missing) > 0 {
		return append([]Result{{Status: Missing,
			Text: fmt.Sprintf("namespaces: this kernel has no %s namespace (no /proc/self/ns/%s); every container needs one", strings.Join(missing, ", "), missing[0]),
			Fix:  "use a kernel built with " + strings.Join(configs, " and ")}}, optional...)
	}
	return append([]Result{{Status: OK, Text: "namespaces: " + strings.Join(have, " ")}}, optional...)
}
