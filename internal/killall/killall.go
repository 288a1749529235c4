package killall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skiff-k8s/skiff/internal/network"
)

// Paths skiff's agent uses outside the data dir.
const (
	DefaultDataDir    = "/var/lib/skiff"
	containerdSocket  = "/run/skiff/containerd/containerd.sock"
	containerdPIDFile = "/run/skiff/containerd/containerd.pid"
	// runtimeStateDir is containerd's state: task bundles, sockets, pid
	// file. Like k3s's /run/k3s it is removed; left, the next start would
	// clean up each dead shim one by one, about 0.1 s a pod.
	runtimeStateDir = "/run/skiff"
	procRoot        = "/proc"
)

// Options says what killall works on.
type Options struct {
	// DataDir is skiff's data dir (DefaultDataDir if empty); only the
	// mounts under <DataDir>/agent/containerd are touched in it.
	DataDir string
	// Out gets one line per kind of thing done.
	Out io.Writer
	// StopTimeout bounds how long the skiff processes and containerd get
	// to exit after SIGTERM before they are killed (10s if zero).
	StopTimeout time.Duration
}

// ErrNotRoot is returned when killall does not run as root.
var ErrNotRoot = errors.New("killall must run as root (try: sudo skiff killall)")

// Run stops skiff's processes and containers on this host and removes its
// mounts, links and iptables chains, printing a line for each kind of
// thing. It carries on past failures and returns an error naming them at
// the end.
func Run(ctx context.Context, opts Options) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	if opts.DataDir == "" {
		opts.DataDir = DefaultDataDir
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 10 * time.Second
	}
	say := func(format string, a ...any) { fmt.Fprintf(opts.Out, format+"\n", a...) }
	var failed []string
	warn := func(what string, err error) {
		if err != nil {
			say("%s: warning: %v", what, err)
			failed = append(failed, what)
		}
	}

	warn("services", stopServices(ctx, say))
	warn("processes", stopProcesses(ctx, opts.StopTimeout, say))
	warn("mounts", unmountAll(opts.DataDir, say))
	if len(failed) == 0 {
		// Only with every process gone and every mount detached: removing
		// a tree that still held a container's rootfs would delete the
		// container's files.
		warn("runtime state", removeRuntimeState(say))
	}

	removed, err := removeOverlay()
	if len(removed) > 0 {
		say("overlay: removed %s", strings.Join(removed, ", "))
	}
	warn("overlay", err)

	deleted, err := removeLinks(network.DefaultBridgeName)
	if len(deleted) > 0 {
		say("links: deleted %s", strings.Join(deleted, ", "))
	} else if err == nil {
		say("links: none to delete")
	}
	warn("links", err)

	counts, err := removeChains()
	var parts []string
	for _, name := range []string{"iptables", "ip6tables"} {
		if n, ok := counts[name]; ok {
			parts = append(parts, fmt.Sprintf("%d with %s", n, name))
		}
	}
	if len(parts) == 0 {
		say("iptables: not installed, nothing to remove")
	} else {
		say("iptables: removed the SKIFF-, KUBE-, CNI- and FLANNEL- chains: %s", strings.Join(parts, ", "))
	}
	warn("iptables", err)

	if len(failed) > 0 {
		return fmt.Errorf("killall could not finish the %s (see above)", strings.Join(failed, ", "))
	}
	return nil
}

// stopServices stops skiff's systemd units first, as k3s's killall does:
// a unit with Restart=always would otherwise start skiff again.
func stopServices(ctx context.Context, say func(string, ...any)) error {
	units, _ := filepath.Glob("/etc/systemd/system/skiff*.service")
	if len(units) == 0 {
		return nil
	}
	if _, err := exec.LookPath("systemctl"); err != nil {
		return nil
	}
	var stopped []string
	var errs []error
	for _, u := range units {
		name := filepath.Base(u)
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(ctx, "systemctl", "stop", name).CombinedOutput()
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("systemctl stop %s: %v: %s", name, err, strings.TrimSpace(string(out))))
			continue
		}
		stopped = append(stopped, name)
	}
	if len(stopped) > 0 {
		say("services: stopped %s", strings.Join(stopped, ", "))
	}
	return errors.Join(errs...)
}

// stopProcesses ends skiff's server and agent processes and containerd
// (SIGTERM, then SIGKILL after timeout), then kills the shims and every
// process under them.
func stopProcesses(ctx context.Context, timeout time.Duration, say func(string, ...any)) error {
	sel := selection{
		self:          os.Getpid(),
		pidNS:         nsInode("/proc/self/ns/pid"),
		containerdPID: readPIDFile(containerdPIDFile),
		socket:        containerdSocket,
	}
	if exe, err := os.Executable(); err == nil {
		var st unix.Stat_t
		if unix.Stat(exe, &st) == nil {
			sel.selfExe = [2]uint64{uint64(st.Dev), st.Ino}
		}
	}
	procs := readProcs(procRoot)
	t := selectTargets(procs, sel)
	var errs []error

	// The roles and containerd first, gently.
	first := append(append([]int(nil), t.roles...), t.containerd...)
	killed := map[int]bool{}
	if len(first) > 0 {
		signal(procRoot, procs, first, syscall.SIGTERM)
		if left := waitGone(procRoot, procs, first, timeout); len(left) > 0 {
			for _, pid := range signal(procRoot, procs, left, syscall.SIGKILL) {
				killed[pid] = true
			}
			if left := waitGone(procRoot, procs, left, 5*time.Second); len(left) > 0 {
				errs = append(errs, fmt.Errorf("still running after SIGKILL: pid %s", pidList(left)))
			}
		}
	}
	// "pid 12, 34 (killed after 10s)"
	describe := func(pids []int) string {
		var k []int
		for _, p := range pids {
			if killed[p] {
				k = append(k, p)
			}
		}
		s := "pid " + pidList(pids)
		if len(k) > 0 {
			s += fmt.Sprintf(" (%s killed: still running %v after SIGTERM)", pidList(k), timeout)
		}
		return s
	}
	if len(t.roles) > 0 {
		say("skiff processes: stopped %s", describe(t.roles))
	} else {
		say("skiff processes: none running")
	}
	if len(t.containerd) > 0 {
		say("containerd: stopped %s", describe(t.containerd))
	} else {
		say("containerd: not running")
	}

	// What the roles and containerd left behind, if they did.
	if left := alive(procRoot, procs, t.children); len(left) > 0 {
		signal(procRoot, procs, left, syscall.SIGKILL)
		if still := waitGone(procRoot, procs, left, 5*time.Second); len(still) > 0 {
			errs = append(errs, fmt.Errorf("still running after SIGKILL: pid %s", pidList(still)))
		}
		say("leftovers: killed %s the skiff processes had started", plural(len(left), "process", "processes"))
	}

	// Then the shims and their trees, found again: a shim may have
	// started or ended meanwhile.
	shims, containers, err := killContainers(sel)
	if err != nil {
		errs = append(errs, err)
	}
	if shims+containers > 0 {
		say("containers: killed %s and %s under them", plural(shims, "shim", "shims"),
			plural(containers, "process", "processes"))
	} else {
		say("containers: none running")
	}
	return errors.Join(errs...)
}

// killContainers kills the shims of sel.socket's containerd and every
// process under them, and says how many of each it killed.
func killContainers(sel selection) (shims, containers int, err error) {
	procs := readProcs(procRoot)
	t := selectTargets(procs, sel)
	victims := append(append([]int(nil), t.containers...), t.shims...)
	if len(victims) == 0 {
		return 0, 0, nil
	}
	// Stop them all first, so that none forks or restarts another while
	// the rest is killed.
	signal(procRoot, procs, victims, syscall.SIGSTOP)
	signal(procRoot, procs, victims, syscall.SIGKILL)
	if left := waitGone(procRoot, procs, victims, 10*time.Second); len(left) > 0 {
		err = fmt.Errorf("still running after SIGKILL: pid %s", pidList(left))
	}
	return len(t.shims), len(t.containers), err
}

// removeRuntimeState removes runtimeStateDir once nothing is mounted under
// it any more.
func removeRuntimeState(say func(string, ...any)) error {
	mounts, err := readMountInfo()
	if err != nil {
		return err
	}
	if left := toUnmount(mounts, []string{runtimeStateDir}); len(left) > 0 {
		return fmt.Errorf("not removing %s: %s still mounted", runtimeStateDir, left[0])
	}
	if _, err := os.Stat(runtimeStateDir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.RemoveAll(runtimeStateDir); err != nil {
		return fmt.Errorf("removing %s: %w", runtimeStateDir, err)
	}
	say("runtime state: removed %s", runtimeStateDir)
	return nil
}

// unmountAll detaches every mount skiff's agent and its pods made, deepest
// first, and removes the pods' network namespace files.
func unmountAll(dataDir string, say func(string, ...any)) error {
	n, err := unmountUnder(mountRoots(dataDir))
	errs := []error{err}
	nsFiles, _ := filepath.Glob("/run/netns/cni-*")
	removed := 0
	for _, p := range nsFiles {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	say("mounts: unmounted %s, removed %s", plural(n, "mount", "mounts"),
		plural(removed, "pod network namespace", "pod network namespaces"))
	return errors.Join(errs...)
}

// unmountUnder detaches the mounts under roots (see under), deepest first,
// and says how many.
func unmountUnder(roots []string) (int, error) {
	mounts, err := readMountInfo()
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, p := range toUnmount(mounts, roots) {
		err := unix.Unmount(p, unix.MNT_DETACH)
		switch {
		case err == nil:
			n++
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			// Went with a mount above it.
		default:
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return n, errors.Join(errs...)
}
