package checkconfig

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// controller is a cgroup controller and the build option that gives it.
type controller struct{ name, config string }

// On cgroup v1 the kubelet refuses to start without cpu, cpuacct, cpuset
// and memory mounted (pkg/kubelet/cm, validateSystemRequirements); runc
// refuses every container without devices, whose rules keep containers
// off the host's devices; pids is how pod PID limits hold.
var v1Controllers = []controller{
	{"cpu", "CONFIG_CGROUP_SCHED"},
	{"cpuacct", "CONFIG_CGROUP_CPUACCT"},
	{"cpuset", "CONFIG_CPUSETS"},
	{"memory", "CONFIG_MEMCG"},
	{"pids", "CONFIG_CGROUP_PIDS"},
	{"devices", "CONFIG_CGROUP_DEVICE"},
}

// On cgroup v2, cpuacct is part of cpu and device rules are a BPF program;
// the kubelet manages cpu, cpuset, memory and pids (getSupportedUnifiedControllers).
var v2Controllers = []controller{
	{"cpu", "CONFIG_CGROUP_SCHED"},
	{"cpuset", "CONFIG_CPUSETS"},
	{"memory", "CONFIG_MEMCG"},
	{"pids", "CONFIG_CGROUP_PIDS"},
}

// cgroupRoot is where the kubelet, runc and containerd look for cgroups.
const cgroupRoot = "/sys/fs/cgroup"

// cgroups checks the controllers the kubelet and runc need, in the mode
// they will use: v2 when /sys/fs/cgroup itself is a cgroup2 mount, as
// runc decides it; otherwise v1, whose controllers are the options of the
// cgroup mounts, as the kubelet reads them. A hybrid host (this project's
// machines: v1 with an empty v2 hierarchy at /sys/fs/cgroup/unified) is v1.
func (h *host) cgroups() []Result {
	if !h.Node {
		return nil
	}
	mounts, err := h.read("/proc/self/mounts")
	if err != nil {
		return []Result{{Status: Warning, Text: fmt.Sprintf("cgroups: cannot read the mount table: %v", err)}}
	}
	v2, anyV1, unified := false, false, ""
	v1 := map[string]bool{}
	for line := range bytes.Lines(mounts) {
		f := strings.Fields(string(line))
		if len(f) < 4 {
			continue
		}
		point, fstype := f[1], f[2]
		if point == cgroupRoot {
			v2 = fstype == "cgroup2" // the last mount there is the one seen
		}
		switch {
		case fstype == "cgroup2" && point != cgroupRoot:
			unified = point
		case fstype == "cgroup":
			anyV1 = true
			for _, opt := range strings.Split(f[3], ",") {
				v1[opt] = true
			}
		}
	}
	switch {
	case v2:
		return h.cgroupV2()
	case anyV1:
		return h.cgroupV1(v1, unified)
	default:
		return []Result{{Status: Missing, Text: "cgroups: no cgroup filesystem is mounted at " + cgroupRoot,
			Fix: "mount them (systemd does at boot; elsewhere cgroupfs-mount does)"}}
	}
}

func (h *host) cgroupV1(mounted map[string]bool, unified string) []Result {
	var have []string
	var out []Result
	for _, c := range v1Controllers {
		if mounted[c.name] {
			have = append(have, c.name)
			continue
		}
		why, fix := h.controllerAbsent(c, false)
		if why == "" {
			why = "is not mounted"
			fix = fmt.Sprintf("mount it (mount -t cgroup -o %s cgroup %s/%s)", c.name, cgroupRoot, c.name)
		}
		out = append(out, Result{Status: Missing, Text: fmt.Sprintf("cgroup v1 controller %s %s; the kubelet and runc need it", c.name, why), Fix: fix})
	}
	if len(out) > 0 {
		return out
	}
	text := "cgroup v1: " + strings.Join(have, " ") + " mounted"
	if unified != "" {
		text += fmt.Sprintf(" (the v2 hierarchy at %s is not used)", unified)
	}
	return []Result{{Status: OK, Text: text}}
}

func (h *host) cgroupV2() []Result {
	file := cgroupRoot + "/cgroup.controllers"
	data, err := h.read(file)
	if err != nil {
		return []Result{{Status: Missing, Text: fmt.Sprintf("cgroup v2: cannot read %s: %v", file, err),
			Fix: "check the cgroup2 mount at " + cgroupRoot}}
	}
	available := map[string]bool{}
	for _, c := range strings.Fields(string(data)) {
		available[c] = true
	}
	var have []string
	var out []Result
	for _, c := range v2Controllers {
		if available[c.name] {
			have = append(have, c.name)
			continue
		}
		why, fix := h.controllerAbsent(c, true)
		if why == "" {
			why = "is not delegated to this cgroup (" + file + ")"
			fix = "enable it in the parent cgroup's cgroup.subtree_control (for a container, its manager does)"
		}
		out = append(out, Result{Status: Missing, Text: fmt.Sprintf("cgroup v2 controller %s %s; the kubelet needs it", c.name, why), Fix: fix})
	}
	if len(out) > 0 {
		return out
	}
	return []Result{{Status: OK, Text: "cgroup v2: " + strings.Join(have, " ") + " available"}}
}

// controllerAbsent explains, from /proc/cgroups, why a controller is not
// there, when the reason is the kernel's: not built, disabled at boot, or
// (on v2) held by a v1 hierarchy. Empty means the kernel has it and the
// reason lies in how cgroups are mounted or delegated.
func (h *host) controllerAbsent(c controller, v2 bool) (why, fix string) {
	data, err := h.read("/proc/cgroups")
	if err != nil {
		return "", ""
	}
	for line := range bytes.Lines(data) {
		// #subsys_name hierarchy num_cgroups enabled
		f := strings.Fields(string(line))
		if len(f) < 4 || f[0] != c.name {
			continue
		}
		hierarchy, _ := strconv.Atoi(f[1])
		switch {
		case f[3] == "0":
			fix = fmt.Sprintf("boot with cgroup_enable=%s on the kernel command line", c.name)
			if c.name == "memory" {
				fix += " (on a Raspberry Pi: cgroup_memory=1 cgroup_enable=memory in cmdline.txt)"
			}
			return "is disabled on the kernel command line", fix
		case v2 && hierarchy != 0:
			return "is held by a cgroup v1 hierarchy", "unmount its v1 hierarchy, or boot with systemd.unified_cgroup_hierarchy=1"
		}
		return "", ""
	}
	return "is not in this kernel", "use a kernel built with " + c.config
}
