package dockerharness

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// How much of a node's log a failed test prints.
const (
	LogTailLines    = 60
	MaxNotableLines = 40
)

// NodeOptions describe one node container.
type NodeOptions struct {
	Tag     string // the node image
	Name    string // container and host name
	Network string // a user-defined network to join; "" for the default bridge
	IP      string // a fixed address on Network (Network.Addr); "" for any
	// Env is KEY=VALUE pairs for the container (SKIFF_TOKEN, ...).
	Env []string
	// Entrypoint replaces the image's (with Args as its arguments); empty
	// keeps skiff-entrypoint.
	Entrypoint string
	// Args is the container's command: "server ...", "agent ...".
	Args []string
	// Preload is a tar stream unpacked into /var/lib/skiff before the first
	// start (ImagesTar makes one).
	Preload []byte
}

// Node is one node container.
type Node struct {
	Name    string
	ID      string
	Started time.Time // when the last docker start returned
}

// CreateNode creates the container with NodeFlags, unpacks o.Preload into
// its data volume, and removes it (with its volumes) at the end of the test,
// printing its log first if the test failed. It does not start it.
func CreateNode(t *testing.T, o NodeOptions) *Node {
	t.Helper()
	args := []string{"create", "--name", o.Name, "--hostname", o.Name}
	if o.Network != "" {
		args = append(args, "--network", o.Network)
	}
	if o.IP != "" {
		args = append(args, "--ip", o.IP)
	}
	for _, e := range o.Env {
		args = append(args, "-e", e)
	}
	if o.Entrypoint != "" {
		args = append(args, "--entrypoint", o.Entrypoint)
	}
	args = append(args, NodeFlags...)
	args = append(args, o.Tag)
	args = append(args, o.Args...)
	id := MustDocker(t, args...)
	n := &Node{Name: o.Name, ID: id}
	t.Cleanup(func() {
		if t.Failed() {
			n.DumpLog(t)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*CommandTimeout)
		defer cancel()
		if out, err := Docker(ctx, nil, "rm", "-f", "-v", n.ID); err != nil {
			t.Errorf("removing container %s: %v: %s", n.Name, err, out)
		}
	})
	if o.Preload != nil {
		ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
		defer cancel()
		if out, err := Docker(ctx, bytes.NewReader(o.Preload), "cp", "-", n.ID+":/var/lib/skiff"); err != nil {
			t.Fatalf("preloading %s: %v: %s", n.Name, err, out)
		}
	}
	return n
}

// StartNode is CreateNode and Start.
func StartNode(t *testing.T, o NodeOptions) *Node {
	t.Helper()
	n := CreateNode(t, o)
	n.Start(t)
	return n
}

// Start starts the (created or stopped) container.
func (n *Node) Start(t *testing.T) {
	t.Helper()
	n.Started = time.Now()
	MustDocker(t, "start", n.ID)
}

// Stop stops the container: SIGTERM to its first process, SIGKILL after
// grace.
func (n *Node) Stop(t *testing.T, grace time.Duration) {
	t.Helper()
	MustDocker(t, "stop", "-t", fmt.Sprint(int(grace.Seconds())), n.ID)
}

// Exec runs a command in the container.
func (n *Node) Exec(ctx context.Context, args ...string) (string, error) {
	return Docker(ctx, nil, append([]string{"exec", n.ID}, args...)...)
}

// MustExec is Exec within CommandTimeout that fails the test on error.
func (n *Node) MustExec(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	out, err := n.Exec(ctx, args...)
	if err != nil {
		t.Fatalf("%s: %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// Kubectl runs kubectl in the container (a server node: it uses the admin
// kubeconfig skiff wrote, /etc/skiff/skiff.yaml) and fails the test on error.
func (n *Node) Kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return n.MustExec(t, append([]string{"kubectl"}, args...)...)
}

// IsRunning says whether the container runs, and if not its state.
func (n *Node) IsRunning() (bool, string) {
	out, err := Docker(context.Background(), nil, "inspect", "-f", "{{.State.Running}} exit code {{.State.ExitCode}}", n.ID)
	if err != nil {
		return false, out
	}
	return strings.HasPrefix(out, "true"), out
}

// Running fails the test at once if the container has stopped: nothing
// will come up any more in it.
func (n *Node) Running(t *testing.T) {
	t.Helper()
	if ok, state := n.IsRunning(); !ok {
		t.Fatalf("%s: the node container has stopped (running: %s); a `skiff killall` run on the host by another test stops the skiff inside node containers too", n.Name, state)
	}
}

// IP is the container's address on network ("" for the default bridge).
func (n *Node) IP(t *testing.T, network string) string {
	t.Helper()
	if network == "" {
		network = "bridge"
	}
	ip := MustDocker(t, "inspect", "-f", fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}`, network), n.ID)
	if ip == "" {
		t.Fatalf("%s has no address on network %s", n.Name, network)
	}
	return ip
}

// DumpLog prints the container's state, the lines of its log that say
// something failed or stopped, and its last lines.
func (n *Node) DumpLog(t *testing.T) {
	// docker logs replays the container's stderr on its own stderr.
	logs, _ := exec.Command("docker", "logs", n.ID).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(logs)), "\n")
	var notable []string
	for _, l := range lines {
		if len(notable) < MaxNotableLines && notableLine.MatchString(l) {
			notable = append(notable, l)
		}
	}
	state, _ := Docker(context.Background(), nil, "inspect", "-f", "{{.State.Status}} (exit code {{.State.ExitCode}}, started {{.State.StartedAt}})", n.ID)
	t.Logf("%s: container %s; lines of its log that tell of a failure or a stop:\n%s", n.Name, state, strings.Join(notable, "\n"))
	t.Logf("%s: last %d lines of its log:\n%s", n.Name, LogTailLines, strings.Join(lines[max(0, len(lines)-LogTailLines):], "\n"))
}

// notableLine matches log lines worth showing first when a node failed.
var notableLine = regexp.MustCompile(`^(F\d{4}|skiff(-entrypoint)?:)|(?i)(part failed|exited|signal|panic|fatal)`)

// WaitFor polls check every second until it holds or timeout passes; then
// the test fails naming what it waited for and the last answer. A container
// of alive that has stopped fails it at once.
func WaitFor(t *testing.T, timeout time.Duration, what string, check func(ctx context.Context) (bool, string), alive ...*Node) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		ok, out := check(ctx)
		cancel()
		if ok {
			return
		}
		for _, n := range alive {
			n.Running(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last answer: %s", what, timeout, out)
		}
		time.Sleep(time.Second)
	}
}

// ImagesTar is a tar stream for NodeOptions.Preload that drops the given
// image tarballs (paths relative to root; default: the test image) into the
// node's airgap folder, <data-dir>/agent/images.
func ImagesTar(t *testing.T, root string, tarballs ...string) []byte {
	t.Helper()
	if len(tarballs) == 0 {
		tarballs = []string{TestImageTar}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, d := range []string{"agent/", "agent/images/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o700, ModTime: now}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range tarballs {
		p := f
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, f)
		}
		img, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("an image to preload is missing (scripts/build makes the test image): %v", err)
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: "agent/images/" + filepath.Base(p), Mode: 0o600, Size: int64(len(img)), ModTime: now}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(img); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Exit is how a container that was run to its end ended.
type Exit struct {
	Output   string // its stdout and stderr
	Code     int    // its exit code; -1 if it did not exit within the timeout
	Took     time.Duration
	TimedOut bool
}

// RunToExit creates the container (removed at the end of the test like
// every node), starts it attached and waits up to timeout for it to exit.
func RunToExit(t *testing.T, o NodeOptions, timeout time.Duration) Exit {
	t.Helper()
	n := CreateNode(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	// docker start -a exits with the container's exit code.
	out, err := Docker(ctx, nil, "start", "-a", n.ID)
	e := Exit{Output: out, Took: time.Since(start), Code: ExitCode(err)}
	if ctx.Err() != nil {
		e.TimedOut, e.Code = true, -1
		// What it printed so far: docker start -a was cut off.
		logs, _ := Docker(context.Background(), nil, "logs", n.ID)
		e.Output = logs
	}
	return e
}

// ExitCode is the exit code in err from a command (0 for nil, -1 if it did
// not run to an exit).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
