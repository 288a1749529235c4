// Package benchutil holds what the benchmark programs share: running one
// until it ends or is interrupted, the binary under test, free ports,
// machine facts and reading a process's memory from /proc.
package benchutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Main runs bench until it returns or SIGINT/SIGTERM cancels its context,
// and exits 1 with its error on one line. interrupted says what was left
// behind when the run was interrupted ("node stopped").
func Main(bench func(ctx context.Context) error, interrupted string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted; %s: %w", interrupted, err)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

// Binary is the skiff binary under test at path: its absolute path and
// size, or why it cannot be used.
func Binary(path string) (string, int64, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", 0, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", 0, fmt.Errorf("skiff binary: %w (build it first with scripts/build, or pass -bin)", err)
	}
	return abs, st.Size(), nil
}

// WaitNodeReady polls until the Node name is Ready; seen, if not nil, is
// called each time the Node is found at all.
func WaitNodeReady(ctx context.Context, c kubernetes.Interface, name string, seen func()) error {
	for {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if seen != nil {
				seen()
			}
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FmtDur prints a duration as seconds with two decimals.
func FmtDur(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// FreeServerPorts finds P such that P, P+1 and P+2 are free on 127.0.0.1:
// a server uses its --https-listen-port and the two after it.
func FreeServerPorts() (int, error) {
next:
	for range 100 {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := a.Addr().(*net.TCPAddr).Port
		a.Close()
		if p >= 65533 {
			continue
		}
		for i := 1; i <= 2; i++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+i)))
			if err != nil {
				continue next
			}
			l.Close()
		}
		return p, nil
	}
	return 0, errors.New("no three consecutive free ports on 127.0.0.1")
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

func PrintMachine() {
	model := "unknown"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
						mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
					}
				}
			}
		}
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	fmt.Printf("machine: %d CPUs (nproc), %s, MemTotal %s, kernel %s, %s\n",
		runtime.NumCPU(), model, mem, kernel, runtime.GOARCH)
}

func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "last lines of " + path + ":\n  " + strings.Join(lines, "\n  ")
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
