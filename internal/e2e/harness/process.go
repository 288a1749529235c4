package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is a long-running skiff (a server) started in its own process
// group, with stdout and stderr appended to LogPath. It may be started
// again after it exits; each start is marked in the log.
type Process struct {
	Bin     string // the binary
	LogPath string // where its output goes

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	starts  int
}

// Start starts the binary with args and ChildEnv(env...) in the background.
func (p *Process) Start(t *testing.T, args, env []string) {
	t.Helper()
	p.starts++
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("opening the server log: %v", err)
	}
	fmt.Fprintf(logf, "=== e2e: start #%d: %s %s\n", p.starts, p.Bin, strings.Join(args, " "))
	if len(env) > 0 {
		fmt.Fprintf(logf, "=== e2e: env %s\n", strings.Join(env, " "))
	}
	cmd := exec.Command(p.Bin, args...)
	cmd.Env = ChildEnv(env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", p.Bin, err)
	}
	p.cmd = cmd
	exited := make(chan struct{})
	p.exited = exited
	p.waitErr = nil
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(exited)
	}()
}

// Starts is how many times Start was called.
func (p *Process) Starts() int { return p.starts }

// Pid is the pid (and process group id) of the current start.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Err is how the last start ended (nil while it runs).
func (p *Process) Err() error { return p.waitErr }

// Exited is closed when the current start has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Running reports whether the current start is still running.
func (p *Process) Running() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// KillGroup sends SIGKILL to the process group, without waiting.
func (p *Process) KillGroup() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Kill sends SIGKILL to the process group and waits for the exit.
func (p *Process) Kill() {
	p.KillGroup()
	<-p.exited
}

// Terminate sends SIGTERM and expects exit status 0 within timeout; past that
// it kills the process group. Either way the process is down afterwards; a
// slow or unclean stop is reported with t.Errorf. It returns false if the
// process had to be killed.
func (p *Process) Terminate(t *testing.T, timeout time.Duration) bool {
	t.Helper()
	if !p.Running() {
		t.Fatalf("Stop: skiff server is not running (exited: %v)", p.waitErr)
	}
	begin := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("sending SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.Kill()
		t.Errorf("skiff server did not exit within %v of SIGTERM (killed it)", timeout)
		return false
	}
	took := time.Since(begin).Round(time.Millisecond)
	if p.waitErr != nil {
		// The log is appended to by later starts: show this start's
		// fatal lines now, while they are the last ones.
		t.Errorf("skiff server exited with %v %v after SIGTERM, want exit status 0\n%s", p.waitErr, took, fatalLines(p.StartLog()))
	} else {
		t.Logf("skiff server stopped cleanly %v after SIGTERM", took)
	}
	return true
}

// ExitCode is the exit status of the ended start: that of an
// *exec.ExitError, 0 for a clean exit; ok is false for other errors.
func (p *Process) ExitCode() (code int, ok bool) {
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		return ee.ExitCode(), true
	}
	return 0, p.waitErr == nil
}

// StartLog is the log since the current start began.
func (p *Process) StartLog() string {
	b, _ := os.ReadFile(p.LogPath)
	marker := fmt.Sprintf("=== e2e: start #%d:", p.starts)
	if i := bytes.LastIndex(b, []byte(marker)); i >= 0 {
		b = b[i:]
	}
	return string(b)
}

// Cleanup kills the process if it still runs and, if t failed, logs the
// last tailLines lines of its log and keeps the whole log (see keepLog).
// Call it from a t.Cleanup.
func (p *Process) Cleanup(t *testing.T, tailLines int) {
	if p.Running() {
		p.Kill()
	}
	if t.Failed() {
		t.Logf("last %d lines of %s:\n%s", tailLines, p.LogPath, TailFile(p.LogPath, tailLines))
		keepLog(t, p.LogPath)
	}
}

// keepLogsEnv names a folder where failed tests keep their servers' whole
// logs, which the temp dirs would take with them: a tail rarely shows
// what went wrong first.
const keepLogsEnv = "SKIFF_E2E_KEEP_LOGS"

// keepLog copies a log into $SKIFF_E2E_KEEP_LOGS, if set, as
// <test>-<n>.log, and says where.
func keepLog(t *testing.T, path string) {
	dir := os.Getenv(keepLogsEnv)
	if dir == "" {
		return
	}
	kept, err := copyInto(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-*.log", path)
	if err != nil {
		t.Logf("keeping %s in %s: %v", path, dir, err)
		return
	}
	t.Logf("the whole log of %s is kept as %s", path, kept)
}

// copyInto copies the file at path to a new file in dir named by
// os.CreateTemp's pattern, and returns the new file's path.
func copyInto(dir, pattern, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}

// fatalLines are the lines of log that say why a process ended: klog's
// fatal and error lines, skiff's own last line, a panic and the first
// goroutine's stack.
func fatalLines(log string) string {
	var out []string
	lines := strings.Split(log, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "F") || strings.HasPrefix(l, "skiff:") || strings.HasPrefix(l, "panic:") {
			out = append(out, l)
		}
		if strings.HasPrefix(l, "goroutine ") {
			out = append(out, lines[i:min(i+30, len(lines))]...)
			break
		}
	}
	if len(out) == 0 {
		return TailString(log, 20)
	}
	return strings.Join(out, "\n")
}
