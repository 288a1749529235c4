package systemdmachine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
)

// Image runs scripts/image-systemd from the repository at root (it does
// nothing when the image is there) under a lock, so that two runs don't
// build it over each other, and returns the image's tag and what the
// script said on stderr.
func Image(ctx context.Context, root string) (tag, log string, err error) {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", "", errors.New("debootstrap is not installed (scripts/deps installs it): scripts/image-systemd builds the machine image with it")
	}
	if err := os.MkdirAll(filepath.Join(root, "build"), 0o755); err != nil {
		return "", "", err
	}
	lock, err := os.OpenFile(filepath.Join(root, "build", ".image-systemd.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", "", err
	}
	defer lock.Close() // closing releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", "", fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts/image-systemd"))
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("scripts/image-systemd: %w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), strings.TrimSpace(stderr.String()), nil
}

// Serve serves h over HTTP on addr (an address of the host that the
// machines reach: their network's gateway) on a free port, and returns the
// base URL and a function that stops serving.
func Serve(addr string, h http.Handler) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return "", nil, fmt.Errorf("listening on the machines' gateway %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// Options describe one machine container.
type Options struct {
	Tag     string // the image scripts/image-systemd built
	Name    string // container and host name
	Network string // a user-defined network to join; "" for the default bridge
	IP      string // a fixed address on Network; "" for any
}

// Machine is one container with systemd as PID 1. Its Node gives Exec and
// the container's name and ID.
type Machine struct {
	*dh.Node
}

// Create creates the machine's container with dockerharness's node flags.
// It does not start it; Remove removes it.
func Create(ctx context.Context, o Options) (*Machine, error) {
	args := []string{"create", "--name", o.Name, "--hostname", o.Name}
	if o.Network != "" {
		args = append(args, "--network", o.Network)
	}
	if o.IP != "" {
		args = append(args, "--ip", o.IP)
	}
	args = append(args, dh.NodeFlags...)
	args = append(args, o.Tag)
	id, err := dh.Docker(ctx, nil, args...)
	if err != nil {
		return nil, fmt.Errorf("creating machine %s: %w: %s", o.Name, err, id)
	}
	return &Machine{Node: &dh.Node{Name: o.Name, ID: id}}, nil
}

// Remove removes the container and its volumes (/var/lib is one).
func (m *Machine) Remove(ctx context.Context) error {
	if out, err := dh.Docker(ctx, nil, "rm", "-f", "-v", m.ID); err != nil {
		return fmt.Errorf("removing container %s: %w: %s", m.Name, err, out)
	}
	return nil
}

// Copy copies the host's file src into the machine (created or running) at
// dst.
func (m *Machine) Copy(ctx context.Context, src, dst string) error {
	if out, err := dh.Docker(ctx, nil, "cp", src, m.ID+":"+dst); err != nil {
		return fmt.Errorf("copying %s into %s: %w: %s", src, m.Name, err, out)
	}
	return nil
}

// Boot starts the container (created, or stopped); WaitBooted waits for
// its systemd. They are apart so that several machines boot at once.
func (m *Machine) Boot(ctx context.Context) error {
	m.Started = time.Now()
	if out, err := dh.Docker(ctx, nil, "start", m.ID); err != nil {
		return fmt.Errorf("starting machine %s: %w: %s", m.Name, err, out)
	}
	return nil
}

// WaitBooted waits until systemd has finished booting: running, or
// degraded (a unit that fails in a container is logged, not fatal). It
// returns the units that failed, one a line, and how long the boot took
// from Boot.
func (m *Machine) WaitBooted(ctx context.Context) (failed string, took time.Duration, err error) {
	var state string
	for {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		state, _ = m.Exec(cctx, "systemctl", "is-system-running")
		cancel()
		if state == "running" || state == "degraded" {
			break
		}
		if ok, container := m.IsRunning(); !ok {
			return "", 0, fmt.Errorf("machine %s stopped while booting (running: %s)", m.Name, container)
		}
		select {
		case <-ctx.Done():
			return "", 0, fmt.Errorf("waiting for machine %s to boot: %w; systemd said %q", m.Name, ctx.Err(), state)
		case <-time.After(time.Second):
		}
	}
	took = time.Since(m.Started)
	failed, err = m.Exec(ctx, "systemctl", "--failed", "--no-legend", "--plain")
	if err != nil {
		return "", 0, fmt.Errorf("listing the failed units of %s: %w: %s", m.Name, err, failed)
	}
	return failed, took, nil
}

// Install runs `curl -sfL <base>/install.sh | sh -` in the machine, with
// env (KEY=VALUE) in the installer's environment as `VAR=... sh -` would
// put it, and returns its output and how long it took.
func (m *Machine) Install(ctx context.Context, base string, env ...string) (string, time.Duration, error) {
	args := []string{"exec"}
	for _, kv := range env {
		args = append(args, "-e", kv)
	}
	args = append(args, m.ID, "sh", "-c", `curl -sfL "$1/install.sh" | sh -`, "sh", base)
	start := time.Now()
	out, err := dh.Docker(ctx, nil, args...)
	return out, time.Since(start), err
}

// Unit reads properties of a unit, with timestamps in UTC to the
// microsecond (ParseUnitTime reads them).
func (m *Machine) Unit(ctx context.Context, name string, props ...string) (map[string]string, error) {
	args := []string{"systemctl", "show", "--timestamp=us+utc", name}
	for _, p := range props {
		args = append(args, "-p", p)
	}
	out, err := m.Exec(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: reading unit %s: %w: %s", m.Name, name, err, out)
	}
	values := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			values[k] = v
		}
	}
	return values, nil
}

// ParseUnitTime parses a timestamp Unit returned.
func ParseUnitTime(s string) (time.Time, error) {
	return time.Parse("Mon 2006-01-02 15:04:05.000000 MST", s)
}

// SkiffJournal is the state of the machine's skiff units and their last
// journal lines, for a failure's report.
func (m *Machine) SkiffJournal(ctx context.Context) string {
	out, _ := m.Exec(ctx, "sh", "-c", "systemctl --no-pager status 'skiff*' 2>&1 | head -n 30; journalctl --no-pager -n 80 -u 'skiff*'")
	return out
}
