package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"
)

// server is a `skiff server --disable-agent` on a fresh data dir. It
// never runs `skiff killall`: with no node there is nothing on the host to
// clean, and other skiffs on the host are left alone.
type server struct {
	dir, dataDir, kubeconfig, log string
	keep                          bool
	cmd                           *exec.Cmd
	gone                          chan struct{}
}

func startServer(ctx context.Context, bin string, args []string, keep bool, timeout time.Duration) (*server, error) {
	dir, err := os.MkdirTemp("/tmp", "skbst")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, dataDir: filepath.Join(dir, "data"), kubeconfig: filepath.Join(dir, "kubeconfig.yaml"),
		log: filepath.Join(dir, "server.log"), keep: keep, gone: make(chan struct{})}
	port, err := benchutil.FreeServerPorts()
	if err != nil {
		s.stop()
		return nil, err
	}
	logf, err := os.Create(s.log)
	if err != nil {
		s.stop()
		return nil, err
	}
	s.cmd = exec.Command(bin, append([]string{"server", "--disable-agent",
		"--bind-address", "127.0.0.1", "--https-listen-port", strconv.Itoa(port),
		"--data-dir", s.dataDir, "--write-kubeconfig", s.kubeconfig}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		s.cmd = nil
		s.stop()
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); logf.Close(); close(s.gone) }()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if c, err := s.client(); err == nil {
			if body, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err == nil && string(body) == "ok" {
				return s, nil
			}
		}
		select {
		case <-s.gone:
			err := s.fail(errors.New("skiff server exited before it was ready"))
			s.stop()
			return nil, err
		case <-ctx.Done():
			err := s.fail(fmt.Errorf("skiff server not ready: %w", ctx.Err()))
			s.stop()
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// client is an admin client with no client-side rate limit: the bench
// measures the server, not client-go's throttle.
func (s *server) client() (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	return kubernetes.NewForConfig(cfg)
}

func (s *server) fail(err error) error {
	return fmt.Errorf("%w\n%s", err, benchutil.Tail(s.log, 25))
}

// stop stops the server as a user would (SIGTERM; killed 30 s later) and
// removes its folder unless kept.
func (s *server) stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.gone:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.gone
		}
	}
	if s.keep {
		fmt.Fprintln(os.Stderr, "kept", s.dir)
	} else if err := os.RemoveAll(s.dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench: removing", s.dir+":", err)
	}
}
