package benchutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// ServerConfig says how to start `skiff server` with its node.
type ServerConfig struct {
	// Bin is the skiff binary (Binary's absolute path).
	Bin string
	// Images are image tarballs by file name, written to
	// <data-dir>/agent/images before the start so that the node imports
	// them (airgap); nil preloads nothing.
	Images map[string][]byte
	// Args are more arguments for skiff server, after the bench's own.
	Args []string
	// Keep leaves the temporary folder (data dir, log, kubeconfig) behind
	// instead of removing it at Cleanup.
	Keep bool
	// Prepare, if set, runs on the data dir before the exec (not counted).
	Prepare func(dataDir string) error
	// ControlPlaneOnly runs `--disable-agent` on loopback; Cleanup then
	// skips `skiff killall`: with no node there is nothing on the host to
	// clean, and other skiffs on the host are left alone.
	ControlPlaneOnly bool
}

// Server is a running `skiff server` on a fresh data dir in a temporary
// folder, with its log and admin kubeconfig there.
type Server struct {
	Bin, Dir, DataDir, Kubeconfig, Log, NodeName string
	// Began is just before the exec: what start-up times count from.
	Began time.Time
	Cmd   *exec.Cmd
	// Gone is closed when the server has exited.
	Gone <-chan struct{}

	keep             bool
	controlPlaneOnly bool
	logFile          *os.File
	stopping         atomic.Bool
}

// StartServer starts `skiff server` on a fresh data dir, as its own
// process group, listening on free ports, with a node named after the
// bench's pid. Call Cleanup when done: it runs `skiff killall` and removes
// the folder (StartServer does so itself when it fails).
func StartServer(cfg ServerConfig) (*Server, error) {
	// Short: kine's unix socket lives under <dir>/data/server.
	dir, err := os.MkdirTemp("/tmp", "skbn")
	if err != nil {
		return nil, err
	}
	s := &Server{
		Bin:        cfg.Bin,
		Dir:        dir,
		DataDir:    filepath.Join(dir, "data"),
		Kubeconfig: filepath.Join(dir, "kubeconfig.yaml"),
		Log:        filepath.Join(dir, "server.log"),
		NodeName:   fmt.Sprintf("skiff-bench-%d", os.Getpid()),
		keep:       cfg.Keep,

		controlPlaneOnly: cfg.ControlPlaneOnly,
	}
	if err := s.start(cfg); err != nil {
		s.Cleanup()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(cfg ServerConfig) error {
	imagesDir := filepath.Join(s.DataDir, "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		return err
	}
	for name, data := range cfg.Images {
		if err := os.WriteFile(filepath.Join(imagesDir, name), data, 0o644); err != nil {
			return err
		}
	}
	if cfg.Prepare != nil {
		if err := cfg.Prepare(s.DataDir); err != nil {
			return fmt.Errorf("preparing the data dir: %w", err)
		}
	}
	port, err := FreeServerPorts()
	if err != nil {
		return err
	}
	if s.logFile, err = os.Create(s.Log); err != nil {
		return err
	}
	cmd := exec.Command(s.Bin, "server",
		"--data-dir", s.DataDir,
		"--https-listen-port", strconv.Itoa(port),
		"--write-kubeconfig", s.Kubeconfig,
		"--node-name", s.NodeName)
	if cfg.ControlPlaneOnly {
		cmd.Args = append(cmd.Args, "--disable-agent", "--bind-address", "127.0.0.1")
	}
	cmd.Args = append(cmd.Args, cfg.Args...)
	cmd.Stdout, cmd.Stderr = s.logFile, s.logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.Began = time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	s.Cmd = cmd
	gone := make(chan struct{})
	s.Gone = gone
	go func() {
		err := cmd.Wait()
		if !s.stopping.Load() {
			fmt.Fprintf(os.Stderr, "bench: skiff server exited: %v\n", err)
		}
		close(gone)
	}()
	return nil
}

// Fail is err with the last lines of the server's log.
func (s *Server) Fail(err error) error {
	return fmt.Errorf("%w\n%s", err, Tail(s.Log, 25))
}

// WithTimeout is a context that ends after d, when ctx ends, or when the
// server exits, whichever comes first.
func (s *Server) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, d)
	go func() {
		select {
		case <-s.Gone:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Idle waits d, and fails if the server exits meanwhile.
func (s *Server) Idle(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.Gone:
		return s.Fail(errors.New("skiff server exited while idle"))
	case <-time.After(d):
		return nil
	}
}

// Stop stops the server as a user would (SIGTERM), and kills its process
// group if it has not exited 30 s later.
func (s *Server) Stop() {
	if s.Cmd == nil {
		return
	}
	s.stopping.Store(true)
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.Gone:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.Cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Cleanup runs `skiff killall`, which leaves the host clean, and removes
// the folder unless told to keep it.
func (s *Server) Cleanup() {
	if s.Cmd != nil {
		s.stopping.Store(true)
	}
	if s.controlPlaneOnly {
		s.Stop()
	} else {
		Killall(s.Bin, s.DataDir)
	}
	if s.logFile != nil {
		s.logFile.Close()
	}
	if s.keep {
		fmt.Fprintln(os.Stderr, "kept", s.Dir)
	} else if err := os.RemoveAll(s.Dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench: removing", s.Dir+":", err)
	}
}
