package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// Timings of the child's supervision.
const (
	// ReadyTimeout bounds the wait for containerd to answer CRI.
	ReadyTimeout = 60 * time.Second
	// stopTimeout bounds the wait for containerd to exit on SIGTERM
	// before it is killed; shims and containers are never signalled.
	stopTimeout = 10 * time.Second
	// crashWindow and crashLimit: dying crashLimit times within
	// crashWindow of Start fails the role; later deaths are restarted.
	crashWindow = time.Minute
	crashLimit  = 3
	maxBackoff  = 30 * time.Second
)

// containerdGCPercent is containerd's GOGC: at 25 it idles with 50 pods on
// about 20 MB less heap than at Go's default 100.
const containerdGCPercent = 25

var _ component.Component = (*Containerd)(nil)
var _ component.Failer = (*Containerd)(nil)

// Containerd is the node's containerd, run as a child process.
type Containerd struct {
	cfg    Config
	failed chan error

	mu       sync.Mutex
	data     TemplateData
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has been waited for
	stopping bool
	done     chan struct{} // closed when supervision ends
}

// New returns the component for cfg; empty fields take their defaults.
func New(cfg Config) *Containerd {
	return &Containerd{cfg: cfg.withDefaults(), failed: make(chan error, 1), done: make(chan struct{})}
}

// Name implements component.Component.
func (c *Containerd) Name() string { return "containerd" }

// Config returns the config with its defaults filled in: the kubelet needs
// Socket and CgroupDriver from it.
func (c *Containerd) Config() Config { return c.cfg }

// PID is the running containerd's pid, or 0 when none runs.
func (c *Containerd) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	select {
	case <-c.exited:
		return 0
	default:
		return c.cmd.Process.Pid
	}
}

// Snapshotter is the snapshotter CRI uses; known once Start has returned.
func (c *Containerd) Snapshotter() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data.Snapshotter
}

// Failed implements component.Failer: containerd kept dying at start.
func (c *Containerd) Failed() <-chan error { return c.failed }

// Start writes containerd's config, ends a containerd left by an earlier
// skiff, and starts the child and its supervision.
func (c *Containerd) Start(ctx context.Context) error {
	if c.cfg.BinDir == "" {
		return errors.New("no bin dir for runc, the CNI plugins and the shim")
	}
	if _, err := os.Stat(c.cfg.Executable); err != nil {
		return fmt.Errorf("finding containerd: %w", err)
	}

	data, err := writeConfig(c.cfg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.data = data
	c.mu.Unlock()

	if err := c.endPrevious(); err != nil {
		return err
	}
	if err := c.spawn(); err != nil {
		return err
	}
	go c.supervise(ctx)
	return nil
}

func (c *Containerd) pidFile() string { return filepath.Join(c.cfg.State, "containerd.pid") }

// endPrevious stops the containerd an earlier skiff left running (skiff
// was killed, or is being upgraded). Its shims, and so the containers, go
// on running and the new containerd adopts them.
func (c *Containerd) endPrevious() error {
	pid := 0
	if b, err := os.ReadFile(c.pidFile()); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if pid > 0 && isContainerd(pid) {
		klog.InfoS("Stopping the containerd an earlier skiff left running", "pid", pid)
		if err := terminate(pid, stopTimeout); err != nil {
			return fmt.Errorf("stopping the earlier containerd (pid %d): %w", pid, err)
		}
	}
	if conn, err := net.DialTimeout("unix", c.cfg.Socket, time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("another containerd already serves %s and skiff did not start it: stop it, or give skiff another socket", c.cfg.Socket)
	}
	return nil
}

// isContainerd reports whether pid is a process called containerd.
func isContainerd(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(b, []byte{0})
	return filepath.Base(string(argv0)) == "containerd"
}

// terminate sends pid SIGTERM, and SIGKILL if it has not gone after wait.
func terminate(pid int, wait time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil || !isContainerd(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	klog.InfoS("containerd did not stop on SIGTERM; killing it", "pid", pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// childEnv is skiff's environment for containerd: the bundle first in PATH
// (for runc, the CNI plugins and the shim), no multicall name to inherit,
// no systemd notify socket (containerd would tell systemd that skiff's
// unit is ready), and a GC setting of its own unless the user set one.
func (c *Containerd) childEnv() []string {
	return childEnv(os.Environ(), c.cfg.BinDir)
}

// childEnv builds containerd's environment from skiff's, environ. GOGC:
// containerd's heap is small, so a tighter one costs little CPU, and it
// idles for most of a node's life.
func childEnv(environ []string, binDir string) []string {
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	var env []string
	userGC := false
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH":
			if v != "" {
				path = v
			}
		case "GOGC", "GOMEMLIMIT":
			if v != "" {
				userGC = true
				env = append(env, kv)
			}
		case "SKIFF_MULTICALL", "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES":
		default:
			env = append(env, kv)
		}
	}
	if !userGC {
		env = append(env, "GOGC="+strconv.Itoa(containerdGCPercent))
	}
	return append(env, "PATH="+binDir+string(os.PathListSeparator)+path)
}

// spawn starts one containerd child.
func (c *Containerd) spawn() error {
	log, err := os.OpenFile(c.cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening containerd's log: %w", err)
	}
	defer log.Close() // the child holds its own copy
	cmd := &exec.Cmd{
		Path: c.cfg.Executable,
		// The socket on the command line too: it is how skiff killall
		// tells skiff's containerd from the host's.
		Args:   []string{c.cfg.Executable, "--config", c.cfg.ConfigFile(), "--address", c.cfg.Socket},
		Env:    c.childEnv(),
		Stdout: log,
		Stderr: log,
		// Its own process group: a ^C in skiff's terminal is skiff's to
		// handle, and skiff stops containerd in its turn.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting containerd: %w", err)
	}
	if err := os.WriteFile(c.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		klog.ErrorS(err, "Recording containerd's pid")
	}
	exited := make(chan struct{})
	c.mu.Lock()
	c.cmd, c.exited = cmd, exited
	c.mu.Unlock()
	go func() { cmd.Wait(); close(exited) }() //nolint:errcheck // the state says
	klog.V(1).InfoS("Started containerd", "pid", cmd.Process.Pid, "config", c.cfg.ConfigFile(), "log", c.cfg.LogFile)
	return nil
}

// supervise restarts containerd when it dies, with back-off; dying
// crashLimit times within crashWindow of the start fails the role.
func (c *Containerd) supervise(ctx context.Context) {
	defer close(c.done)
	start := time.Now()
	crashes := 0
	backoff := time.Second
	for {
		c.mu.Lock()
		cmd, exited := c.cmd, c.exited
		c.mu.Unlock()
		began := time.Now()
		select {
		case <-exited:
		case <-ctx.Done():
			return
		}
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if stopping {
			return
		}
		if time.Since(began) > crashWindow {
			backoff = time.Second
		}
		if time.Since(start) < crashWindow {
			crashes++
		}
		klog.ErrorS(nil, "containerd exited; restarting it", "state", cmd.ProcessState.String(), "in", backoff, "log", c.cfg.LogFile, "lastLog", lastLines(c.cfg.LogFile, 3))
		if crashes >= crashLimit {
			c.failed <- fmt.Errorf("containerd exited %d times within %v of start; see %s: %s", crashes, crashWindow, c.cfg.LogFile, lastLines(c.cfg.LogFile, 10))
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, maxBackoff)
		c.mu.Lock()
		stopping = c.stopping
		c.mu.Unlock()
		if stopping {
			return
		}
		if err := c.spawn(); err != nil {
			c.failed <- err
			return
		}
	}
}

// Ready waits, up to ReadyTimeout, for containerd's CRI to answer.
func (c *Containerd) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	var last error
	for {
		if last = criVersion(ctx, c.cfg.Socket); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("containerd did not answer on %s within %v (%v); its log %s ends: %s",
				c.cfg.Socket, ReadyTimeout, last, c.cfg.LogFile, lastLines(c.cfg.LogFile, 10))
		case <-c.done:
			return fmt.Errorf("containerd stopped before it was ready; its log %s ends: %s", c.cfg.LogFile, lastLines(c.cfg.LogFile, 10))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// criVersion asks containerd's CRI for its version, as the kubelet will.
func criVersion(ctx context.Context, socket string) error {
	if _, err := os.Stat(socket); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl, err := client.New(socket, client.WithTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	conn, ok := cl.Conn().(*grpc.ClientConn)
	if !ok {
		return errors.New("containerd client has no gRPC connection")
	}
	_, err = runtimeapi.NewRuntimeServiceClient(conn).Version(ctx, &runtimeapi.VersionRequest{})
	return err
}

// Stop ends containerd and waits for it; shims and containers go on
// running.
func (c *Containerd) Stop(ctx context.Context) error {
	c.mu.Lock()
	c.stopping = true
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
	default:
		// The one process only, never its group: shims have their own,
		// but a kill of the group is not ours to risk.
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("stopping containerd: %w", err)
		}
		wait := stopTimeout
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			wait = time.Until(dl) - 500*time.Millisecond
		}
		select {
		case <-exited:
		case <-time.After(wait):
			klog.InfoS("containerd did not stop on SIGTERM; killing it", "pid", cmd.Process.Pid)
			cmd.Process.Kill() //nolint:errcheck // it may just have gone
			select {
			case <-exited:
			case <-ctx.Done():
				return fmt.Errorf("containerd (pid %d) did not exit: %w", cmd.Process.Pid, ctx.Err())
			}
		}
	}
	os.Remove(c.pidFile()) //nolint:errcheck // best effort
	return nil
}

// lastLines returns the last n lines of a log file, joined by " | ".
func lastLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	const tail = 16 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > tail {
		f.Seek(fi.Size()-tail, 0) //nolint:errcheck // read from the start then
	}
	b := make([]byte, tail)
	k, _ := f.Read(b)
	lines := strings.Split(strings.TrimRight(string(b[:k]), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
