package killall

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is what killall needs to know of one process.
type proc struct {
	pid, ppid int
	start     uint64 // start time in clock ticks since boot: tells a reused pid apart
	state     byte
	argv      []string
	exe       string    // where /proc/<pid>/exe points ("" if unreadable)
	exeID     [2]uint64 // device and inode of that file
	pidNS     uint64    // inode of its PID namespace (0 if unreadable)
}

// readProcs reads every process under procRoot (normally /proc).
func readProcs(procRoot string) map[int]*proc {
	entries, _ := os.ReadDir(procRoot)
	procs := map[int]*proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, err := readProc(procRoot, pid); err == nil {
			procs[pid] = p
		}
	}
	return procs
}

func readProc(procRoot string, pid int) (*proc, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil, err
	}
	p, err := parseStat(stat)
	if err != nil {
		return nil, err
	}
	p.pid = pid
	if cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		p.argv = splitCmdline(cmdline)
	}
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		p.exe = strings.TrimSuffix(exe, " (deleted)")
	}
	p.pidNS = nsInode(filepath.Join(dir, "ns", "pid"))
	if st, err := os.Stat(filepath.Join(dir, "exe")); err == nil {
		if s, ok := st.Sys().(*syscall.Stat_t); ok {
			p.exeID = [2]uint64{uint64(s.Dev), s.Ino}
		}
	}
	return p, nil
}

// nsInode identifies a namespace by the inode of its /proc/<pid>/ns file.
func nsInode(path string) uint64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

// parseStat reads the ppid, state and start time from /proc/<pid>/stat,
// whose second field (the command name, in parentheses) may hold spaces
// and parentheses itself.
func parseStat(stat []byte) (*proc, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, errors.New("malformed stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	if len(f) < 20 || len(f[0]) != 1 {
		return nil, errors.New("malformed stat")
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return nil, err
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return nil, err
	}
	return &proc{ppid: ppid, state: f[0][0], start: start}, nil
}

func splitCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

// targets are the processes to stop, by kind.
type targets struct {
	roles      []int // skiff server and agent
	containerd []int
	shims      []int
	containers []int // everything under the shims
	// children are what else runs under the roles and containerd (other
	// than containerd itself); they are killed if still there once their
	// parents have stopped.
	children []int
}

// selection says what is skiff's on this host.
type selection struct {
	self          int
	selfExe       [2]uint64
	containerdPID int    // from containerd's pid file, or 0
	socket        string // skiff's containerd socket, which its shims are given
	// pidNS is killall's own PID namespace. skiff running in a container on
	// this host — a node of a multi-node cluster, started by Docker — shows
	// in the host's /proc under the same names, but is not this host's
	// skiff: only processes of this namespace are picked (their containers'
	// processes, in namespaces of their own, are reached as their children).
	pidNS uint64
}

// sameHost says whether p belongs to the PID namespace killall runs in; an
// unknown namespace on either side counts as the same.
func (s selection) sameHost(p *proc) bool {
	return s.pidNS == 0 || p.pidNS == 0 || p.pidNS == s.pidNS
}

func argv0(p *proc) string {
	if len(p.argv) == 0 {
		return ""
	}
	return filepath.Base(p.argv[0])
}

// isSkiffBinary says whether p runs a skiff binary: this one, or another
// copy whose name starts with skiff.
func (s selection) isSkiffBinary(p *proc) bool {
	if p.exeID != ([2]uint64{}) && p.exeID == s.selfExe {
		return true
	}
	return strings.HasPrefix(filepath.Base(p.exe), "skiff") || strings.HasPrefix(argv0(p), "skiff")
}

func (s selection) isRole(p *proc) bool {
	return len(p.argv) >= 2 && (p.argv[1] == "server" || p.argv[1] == "agent") && s.isSkiffBinary(p)
}

// isContainerd is skiff's containerd: the one its pid file names, one
// serving skiff's socket (skiff passes it as --address), or, from older
// skiffs, the skiff binary called containerd or one configured under a
// skiff path; the host's own containerd (Docker's) is none of these.
func (s selection) isContainerd(p *proc) bool {
	if argv0(p) != "containerd" {
		return false
	}
	if p.pid == s.containerdPID || s.isSkiffBinary(p) {
		return true
	}
	return slices.Contains(p.argv, s.socket) || strings.Contains(strings.Join(p.argv, " "), "skiff")
}

// isShim is a runc shim serving skiff's containerd. The shim re-executes the
// skiff binary itself (SKIFF_MULTICALL tells it what to be), so its argv0 is
// skiff's path, not containerd-shim-runc-v2.
func (s selection) isShim(p *proc) bool {
	if !strings.HasPrefix(argv0(p), "containerd-shim") && !s.isSkiffBinary(p) {
		return false
	}
	for i := 1; i+1 < len(p.argv); i++ {
		if (p.argv[i] == "-address" || p.argv[i] == "--address") && p.argv[i+1] == s.socket {
			return true
		}
	}
	return false
}

// selectTargets picks skiff's processes out of procs. It never picks
// killall itself or its ancestors (a shell it was started from).
func selectTargets(procs map[int]*proc, s selection) targets {
	spare := map[int]bool{}
	for pid := s.self; pid > 0 && !spare[pid]; {
		spare[pid] = true
		p, ok := procs[pid]
		if !ok {
			break
		}
		pid = p.ppid
	}
	children := map[int][]int{}
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	var t targets
	taken := map[int]bool{}
	take := func(list *[]int, pid int) {
		if !spare[pid] && !taken[pid] {
			taken[pid] = true
			*list = append(*list, pid)
		}
	}
	pids := make([]int, 0, len(procs))
	for pid := range procs {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	for _, pid := range pids {
		p := procs[pid]
		switch {
		case !s.sameHost(p):
		case s.isShim(p):
			take(&t.shims, pid)
		case s.isContainerd(p):
			take(&t.containerd, pid)
		case s.isRole(p):
			take(&t.roles, pid)
		}
	}
	// Everything under the shims, whole trees; then what else is under
	// the roles and containerd.
	descend := func(roots []int, into *[]int) {
		queue := append([]int(nil), roots...)
		for len(queue) > 0 {
			pid := queue[0]
			queue = queue[1:]
			for _, c := range children[pid] {
				if !taken[c] && !spare[c] {
					take(into, c)
					queue = append(queue, c)
				}
			}
		}
		sort.Ints(*into)
	}
	descend(t.shims, &t.containers)
	descend(append(append([]int(nil), t.roles...), t.containerd...), &t.children)
	return t
}

// signal sends sig to each process that is still the one seen (same start
// time), and returns those it reached.
func signal(procRoot string, seen map[int]*proc, pids []int, sig syscall.Signal) []int {
	var sent []int
	for _, pid := range pids {
		p, err := readProc(procRoot, pid)
		if err != nil || p.start != seen[pid].start || p.state == 'Z' {
			continue
		}
		if err := syscall.Kill(pid, sig); err == nil {
			sent = append(sent, pid)
		}
	}
	return sent
}

// alive returns those of pids that still run (zombies don't count).
func alive(procRoot string, seen map[int]*proc, pids []int) []int {
	var out []int
	for _, pid := range pids {
		p, err := readProc(procRoot, pid)
		if err == nil && p.start == seen[pid].start && p.state != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

// waitGone polls until none of pids runs or timeout passes, and returns
// those still running.
func waitGone(procRoot string, seen map[int]*proc, pids []int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		left := alive(procRoot, seen, pids)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readPIDFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
