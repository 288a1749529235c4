package node

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// hostProc is one process of the host that belongs to skiff.
type hostProc struct {
	pid     int
	cmdline string
	why     string
}

// skiffProcs lists the processes that are skiff's: the binary under test
// (server, tools), anything started with SKIFF_MULTICALL in its
// environment, and anything whose command line names skiff's containerd
// socket (containerd's --address, a shim's -address).
func skiffProcs() []hostProc {
	var found []hostProc
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(raw) == 0 {
			continue // gone, or a kernel thread
		}
		cmdline := strings.Join(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"), " ")
		why := ""
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		exe = strings.TrimSuffix(exe, " (deleted)")
		env, _ := os.ReadFile(filepath.Join(dir, "environ"))
		switch {
		case exe == skiffBin:
			why = "runs " + skiffBin
		case bytes.Contains(env, []byte("SKIFF_MULTICALL=")):
			why = "has SKIFF_MULTICALL in its environment"
		case strings.Contains(cmdline, "/run/skiff/containerd"):
			why = "names skiff's containerd socket" // a shim of skiff's (Docker's are not)
		}
		if why != "" {
			found = append(found, hostProc{pid: pid, cmdline: cmdline, why: why})
		}
	}
	return found
}

// skiffMounts lists the mount points under /run/skiff, /var/lib/kubelet/pods
// and the node's <data-dir>/agent.
func skiffMounts(dataDir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []string{"(cannot read /proc/self/mountinfo: " + err.Error() + ")"}
	}
	defer f.Close()
	prefixes := []string{"/run/skiff/", "/var/lib/kubelet/pods/", filepath.Join(dataDir, "agent") + "/"}
	var found []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		for _, p := range prefixes {
			if mp+"/" == p || strings.HasPrefix(mp, p) {
				found = append(found, mp)
				break
			}
		}
	}
	return found
}

// unescapeMount undoes the octal escapes of mountinfo (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// skiffChains lists the iptables lines (filter and nat) that mention a
// SKIFF- or KUBE- chain.
func skiffChains() ([]string, error) {
	var found []string
	for _, table := range []string{"filter", "nat", "mangle"} {
		out, err := exec.Command("iptables", "-w", "5", "-t", table, "-S").Output()
		if err != nil {
			return nil, fmt.Errorf("iptables -t %s -S: %w", table, err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "SKIFF-") || strings.Contains(l, "KUBE-") {
				found = append(found, table+": "+l)
			}
		}
	}
	return found, nil
}

// checkHostClean reports everything of skiff's still on the host after
// `skiff killall`: processes, mounts, the cni0 bridge, iptables chains.
func checkHostClean(t *testing.T, dataDir string) {
	t.Helper()
	for _, p := range skiffProcs() {
		t.Errorf("after skiff killall: process %d still runs (%s): %s", p.pid, p.why, p.cmdline)
	}
	for _, m := range skiffMounts(dataDir) {
		t.Errorf("after skiff killall: %s is still mounted", m)
	}
	if ifc, err := net.InterfaceByName("cni0"); err == nil {
		t.Errorf("after skiff killall: link cni0 (index %d) still exists", ifc.Index)
	}
	// containerd's state of the dead tasks: left, the next start would
	// clean up each dead shim one by one.
	if _, err := os.Stat("/run/skiff"); err == nil {
		t.Errorf("after skiff killall: /run/skiff (containerd's state) still exists")
	}
	chains, err := skiffChains()
	if err != nil {
		t.Error(err)
	}
	if len(chains) > 0 {
		t.Errorf("after skiff killall: %d iptables lines still mention SKIFF- or KUBE- chains:\n%s", len(chains), strings.Join(chains, "\n"))
	}
}

// otherSkiffs lists the skiff servers, agents and containerds that run on
// the host (any skiff binary, not only the one under test).
func otherSkiffs() []string {
	var busy []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		skiffExe := strings.HasPrefix(filepath.Base(strings.TrimSuffix(exe, " (deleted)")), "skiff")
		skiff := skiffExe || strings.HasPrefix(filepath.Base(argv[0]), "skiff")
		role := skiff && len(argv) > 1 && (argv[1] == "server" || argv[1] == "agent")
		// skiff's containerd is the bundle's, started with skiff's socket.
		containerd := filepath.Base(argv[0]) == "containerd" &&
			(skiffExe || strings.Contains(strings.Join(argv, " "), "/run/skiff/containerd/"))
		if role || containerd {
			busy = append(busy, fmt.Sprintf("  pid %s: %s", e.Name(), strings.Join(argv, " ")))
		}
	}
	return busy
}
