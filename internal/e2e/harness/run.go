package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Result is how a short-lived skiff process ended.
type Result struct {
	Code     int // exit status; -1 if it did not run to an exit
	Stdout   string
	Stderr   string
	Took     time.Duration
	TimedOut bool
}

// Run runs bin with args and ChildEnv(env...) to completion, in its own
// process group that is killed after timeout and on return. err is set only
// when the command did not run to an exit status (Code is then -1).
func Run(bin string, timeout time.Duration, env []string, args ...string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = ChildEnv(env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	begin := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(begin), TimedOut: ctx.Err() != nil}
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		r.Code = -1
		return r, fmt.Errorf("running %s %s: %v", bin, strings.Join(args, " "), err)
	}
	return r, nil
}

// Kubectl runs `<Bin> kubectl --kubeconfig <Kubeconfig>` with a discovery
// cache under CacheRoot, private to the test.
type Kubectl struct {
	Bin        string
	Kubeconfig string
	CacheRoot  string        // KUBECACHEDIR is <CacheRoot>/kubecache
	Timeout    time.Duration // of one Run
}

// Cmd is the kubectl command with args, not started.
func (k Kubectl) Cmd(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"kubectl", "--kubeconfig", k.Kubeconfig}, args...)
	cmd := exec.CommandContext(ctx, k.Bin, full...)
	cmd.Env = ChildEnv("KUBECACHEDIR=" + filepath.Join(k.CacheRoot, "kubecache"))
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs kubectl with stdin (may be nil) within Timeout and returns its
// stdout, stderr and error.
func (k Kubectl) Run(stdin io.Reader, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), k.Timeout)
	defer cancel()
	cmd := k.Cmd(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// ExitCode is the exit status err stands for: 0 for nil, that of an
// *exec.ExitError, -1 otherwise.
func ExitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		return -1
	}
}
