package dbharness

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is one database server started in its own temp dir.
type Server struct {
	// Kind is "postgres", "mariadb" or "etcd".
	Kind string
	// Endpoint is what skiff's --datastore-endpoint says to reach it.
	Endpoint string
	// Dir holds its data, socket and log; Stop removes it.
	Dir string
	// Port is the loopback port clients connect to.
	Port int

	cmd        *exec.Cmd
	exited     chan struct{}
	stopSignal syscall.Signal
	logPath    string
}

// Stop shuts the server down (killing it if it takes over 15 s) and
// removes its dir.
func (s *Server) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(s.stopSignal)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
		}
		// Whatever it left in its process group goes too.
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		return fmt.Errorf("removing %s: %w", s.Dir, err)
	}
	return nil
}

// Running reports whether the server process is still up.
func (s *Server) Running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// LogTail is the last n lines of the server's own log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", s.logPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cleanup stops s at the end of t, logging its log's tail if t failed.
func cleanup(t testing.TB, s *Server) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the %s server's log:\n%s", s.Kind, s.LogTail(40))
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the %s server: %v", s.Kind, err)
		}
	})
}

// newDir makes the server's temp dir, short (unix socket paths are
// limited to 108 bytes) and open to the server's own user, who must reach
// its data and socket below it.
func newDir(kind string) (string, error) {
	dir, err := os.MkdirTemp("/tmp", "skf-"+kind+"-")
	if err != nil {
		return "", fmt.Errorf("making a temp dir for %s: %w", kind, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// account is the uid and gid of a system user a package made.
type account struct{ uid, gid uint32 }

func lookup(name string) (account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return account{}, fmt.Errorf("user %s: %w (is its package installed? scripts/deps --test installs it)", name, err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return account{uint32(uid), uint32(gid)}, nil
}

// mkdirOwned makes dir owned by a.
func mkdirOwned(dir string, a account) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chown(dir, int(a.uid), int(a.gid))
}

// command builds a command run as a (nil: as ourselves) in its own
// process group, killed if this process dies. The credentials are set
// before the death signal, which a change of user would otherwise clear.
func command(as *account, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if as != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: as.uid, Gid: as.gid}
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// run runs a short set-up command and says what it printed if it fails.
func run(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return nil
}

// launch starts the long-running server command with its output in
// <Dir>/server.log.
func (s *Server) launch(cmd *exec.Cmd) error {
	s.logPath = filepath.Join(s.Dir, "server.log")
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	return nil
}

// waitFor calls ready until it succeeds, the server exits, or a minute
// passes.
func (s *Server) waitFor(ready func() error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if !s.Running() {
			return fmt.Errorf("the %s server exited at start:\n%s", s.Kind, s.LogTail(20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the %s server did not answer within a minute: %v", s.Kind, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePort is a loopback port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// failed stops what was started of s and returns err.
func (s *Server) failed(err error) (*Server, error) {
	if stopErr := s.Stop(); stopErr != nil {
		err = errors.Join(err, stopErr)
	}
	return nil, err
}
