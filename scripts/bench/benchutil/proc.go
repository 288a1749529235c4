package benchutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Usage is the memory and CPU of a set of processes, as /proc shows them.
type Usage struct {
	N              int     // processes
	RSS, Anon, PSS float64 // MiB; PSS shares each page among the processes mapping it
	CPU            float64 // seconds of CPU used since each process started
}

// Plus is u and v together.
func (u Usage) Plus(v Usage) Usage {
	return Usage{N: u.N + v.N, RSS: u.RSS + v.RSS, Anon: u.Anon + v.Anon, PSS: u.PSS + v.PSS, CPU: u.CPU + v.CPU}
}

// Per is u's memory divided among n (per shim, per pod); zero for n < 1.
func (u Usage) Per(n int) Usage {
	if n < 1 {
		return Usage{}
	}
	d := float64(n)
	return Usage{N: 1, RSS: u.RSS / d, Anon: u.Anon / d, PSS: u.PSS / d, CPU: u.CPU / d}
}

// Cores is the CPU u used since before was read, in cores over the
// seconds between them.
func (u Usage) Cores(before Usage, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return (u.CPU - before.CPU) / seconds
}

// ReadUsage reads pid's RSS, anonymous RSS, PSS and CPU time; a field it
// cannot read is zero (a process may exit while it is being measured).
func ReadUsage(pid int) Usage {
	return Usage{
		N:    1,
		RSS:  statusMiB(pid, "VmRSS:"),
		Anon: statusMiB(pid, "RssAnon:"),
		PSS:  PSSMiB(pid),
		CPU:  CPUSeconds(pid),
	}
}

// statFields are the fields of /proc/<pid>/stat after the command name,
// which is in parentheses and may hold spaces: the first is the state
// (field 3 in proc(5)).
func statFields(pid int) ([]string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(s[i+1:]), true
}

// PPID is the parent of pid.
func PPID(pid int) (int, bool) {
	f, ok := statFields(pid)
	if !ok || len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// CPUSeconds is the user and system CPU time pid has used (utime and
// stime, fields 14 and 15, in clock ticks of 1/100 s on Linux), zero when
// unreadable.
func CPUSeconds(pid int) float64 {
	f, ok := statFields(pid)
	if !ok || len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return (utime + stime) / 100
}

// StatusMiB reads one kB field of /proc/<pid>/status, in MiB.
func StatusMiB(pid int, key string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s for pid %d", key, pid)
}

// statusMiB is StatusMiB, zero when unreadable.
func statusMiB(pid int, key string) float64 {
	v, _ := StatusMiB(pid, key)
	return v
}

// PSSMiB is the process's proportional set size, from smaps_rollup (zero
// when unreadable).
func PSSMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Pss:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// Cmdline is pid's argv (nil for a kernel thread or a process gone).
func Cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// exeBase is the base name of the file pid runs ("" when unreadable).
func exeBase(pid int) string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
}

// HasFlag says whether argv holds flag followed by value.
func HasFlag(argv []string, flag, value string) bool {
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == flag && argv[i+1] == value {
			return true
		}
	}
	return false
}

// pids lists the processes in /proc.
func pids() []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}
