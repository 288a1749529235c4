package dockerharness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// NodeFlags are DESIGN.md's near-privileged flags: every capability the
// engine can grant (these machines lack CAP_SYS_RESOURCE, so --privileged is
// refused), unconfined seccomp/apparmor/system paths and the host's cgroup
// tree writable.
var NodeFlags = []string{
	"--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
	"--security-opt", "seccomp=unconfined",
	"--security-opt", "apparmor=unconfined",
	"--security-opt", "systempaths=unconfined",
	"-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
	"--tmpfs", "/run", "--tmpfs", "/tmp",
}

// The image the test pods run: build/images/skiff-test-http.tar
// (scripts/testimage) answers GET / with its host name, the pod's name.
const (
	TestImageTar = "build/images/skiff-test-http.tar"
	TestImage    = "docker.io/skiff/test-http:v1"
)

// CommandTimeout bounds one docker command that should answer at once.
const CommandTimeout = 60 * time.Second

// Env is what Setup found: the repository root and the node image's tag.
type Env struct {
	Root string
	Tag  string
}

// Setup skips under -short or without docker, fails with a reason when the
// tests cannot run (not root, no bin/skiff, no engine), and makes sure the
// node image is there and newer than what it is built from.
func Setup(t *testing.T) Env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: starts node containers (skipped under -short)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed: the node container tests need a Docker engine")
	}
	if err := harness.RequireRoot("these tests run node containers with every capability"); err != nil {
		t.Fatal(err)
	}
	root, err := harness.RepoRoot("run the tests from inside the repository")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin/skiff")); err != nil {
		t.Fatalf("bin/skiff is missing: run scripts/build first (%v)", err)
	}
	if out, err := Docker(context.Background(), nil, "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Fatalf("the Docker engine does not answer: %v: %s", err, out)
	}
	tag := os.Getenv("SKIFF_IMAGE")
	if tag == "" {
		tag = "skiff/node:dev"
	}
	EnsureImage(t, root, tag)
	return Env{Root: root, Tag: tag}
}

// EnsureImage runs scripts/image unless the image exists and is newer than
// bin/skiff and every file it is built from. A lock file keeps test
// packages that run at once (go test ./internal/e2e/...) from building it
// over each other.
func EnsureImage(t *testing.T, root, tag string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(root, "build", ".image.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close() // closing releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("locking %s: %v", lock.Name(), err)
	}
	var newest time.Time
	for _, f := range []string{"bin/skiff", "Dockerfile", "scripts/image", "scripts/image-entrypoint"} {
		fi, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	out, err := Docker(context.Background(), nil, "image", "inspect", "-f", "{{.Created}}", tag)
	if err == nil {
		created, perr := time.Parse(time.RFC3339Nano, out)
		if perr == nil && created.After(newest) {
			t.Logf("using %s (built %s)", tag, created.Format(time.RFC3339))
			return
		}
	}
	start := time.Now()
	cmd := exec.Command(filepath.Join(root, "scripts/image"), tag)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/image %s: %v\n%s", tag, err, b)
	}
	t.Logf("built %s in %.1f s:\n%s", tag, time.Since(start).Seconds(), strings.TrimSpace(string(b)))
}

// Suffix is a random suffix that keeps the names of one test run's
// containers and networks apart from any other run's.
func Suffix() string {
	return fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
}

// Docker runs docker with args (and stdin if not nil) and returns its
// output, trimmed; on failure the output holds stderr too.
func Docker(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (timed out)", err)
		}
		return strings.TrimSpace(stdout.String() + "\n" + stderr.String()), err
	}
	return strings.TrimSpace(stdout.String()), nil
}

// MustDocker is Docker within CommandTimeout that fails the test on error.
func MustDocker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	out, err := Docker(ctx, nil, args...)
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// Network is a user-defined bridge network with a /24 subnet of its own:
// nodes get fixed addresses in its lower half (Addr), so that a node keeps
// its IP across a container restart as a machine would, while containers
// started without one get theirs from the upper half.
type Network struct {
	Name   string
	prefix string // "172.29.N."
}

// Addr is the network's address .i; use 2..127 for fixed addresses.
func (nw *Network) Addr(i int) string { return fmt.Sprintf("%s%d", nw.prefix, i) }

// CreateNetwork creates a user-defined bridge network (with the engine's
// DNS for container names, as kind and k3d use) on a free 172.29.N.0/24,
// internal (the nodes reach each other and the host, nothing beyond, as an
// edge box with no way to a registry: what passes there works offline),
// and removes it at the end of the test, after the containers created
// later (cleanups run in reverse).
func CreateNetwork(t *testing.T, name string) *Network {
	t.Helper()
	var last string
	for range 20 {
		n := 16 + rand.IntN(239)
		prefix := fmt.Sprintf("172.29.%d.", n)
		ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
		out, err := Docker(ctx, nil, "network", "create", "--internal",
			"--subnet", prefix+"0/24", "--ip-range", prefix+"128/25", "--gateway", prefix+"1", name)
		cancel()
		if err == nil {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
				defer cancel()
				if out, err := Docker(ctx, nil, "network", "rm", name); err != nil {
					t.Errorf("removing network %s: %v: %s", name, err, out)
				}
			})
			return &Network{Name: name, prefix: prefix}
		}
		last = out
		if !strings.Contains(out, "overlap") {
			break
		}
	}
	t.Fatalf("docker network create %s: %s", name, last)
	return nil
}
