package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bounds of these tests: DESIGN.md measures a node Ready about 3 s after
// exec on the host; a container adds little, the rest is slack for a loaded
// 2-core box running other tests.
const (
	nodeReadyTimeout  = 90 * time.Second
	podRunningTimeout = 90 * time.Second
	commandTimeout    = 60 * time.Second
	logTailLines      = 40
	maxNotableLines   = 40
)

// nodeFlags are DESIGN.md's near-privileged flags: every capability the
// engine can grant (these machines lack CAP_SYS_RESOURCE, so --privileged is
// refused), unconfined seccomp/apparmor/system paths and the host's cgroup
// tree writable.
var nodeFlags = []string{
	"--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
	"--security-opt", "seccomp=unconfined",
	"--security-opt", "apparmor=unconfined",
	"--security-opt", "systempaths=unconfined",
	"-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
	"--tmpfs", "/run", "--tmpfs", "/tmp",
}

// testImage is what the test pods run: build/images/skiff-test-http.tar
// (scripts/testimage) answers GET / with its host name, the pod's name.
const (
	testImageTar = "build/images/skiff-test-http.tar"
	testImage    = "docker.io/skiff/test-http:v1"
)

// TestE2ENodeImageTwoNodes runs two node containers of the image at once
// (two independent single-node clusters on one host): both nodes become
// Ready and run a pod of the preloaded test image that answers on its pod IP,
// and each node's pods live under its own container's cgroup, never under a
// shared /kubepods.
func TestE2ENodeImageTwoNodes(t *testing.T) {
	root, tag := setup(t)
	images := imagesTar(t, root)

	suffix := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	nodes := []*node{
		startNode(t, tag, "skiff-e2e-"+suffix+"-a", images),
		startNode(t, tag, "skiff-e2e-"+suffix+"-b", images),
	}
	t.Run("nodes", func(t *testing.T) {
		for _, n := range nodes {
			t.Run(n.name, func(t *testing.T) {
				t.Parallel()
				n.waitReady(t)
				t.Logf("%s: node Ready %.1f s after docker start", n.name, time.Since(n.started).Seconds())
				ready := time.Now()
				n.runPod(t)
				t.Logf("%s: pod %s Running at %s and answering %.1f s after that", n.name, n.pod, n.podIP, time.Since(ready).Seconds())
			})
		}
	})
	if t.Failed() {
		return
	}
	// Both clusters ran side by side: their pods are still up, each in its
	// own container's cgroup.
	for _, n := range nodes {
		if phase := n.kubectl(t, "get", "pod", n.pod, "-o", "jsonpath={.status.phase}"); phase != "Running" {
			t.Errorf("%s: pod %s is %q after the other node came up, want Running", n.name, n.pod, phase)
		}
		n.checkPodCgroup(t)
	}
}

// setup skips or fails with a reason, finds the repository and makes sure
// the image is there and newer than what it is built from.
func setup(t *testing.T) (root, tag string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: starts node containers (skipped under -short)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed: the node image tests need a Docker engine")
	}
	if os.Geteuid() != 0 {
		t.Fatalf("these tests run node containers with every capability and must run as root (euid is %d): run them as root, or pass -short to skip them", os.Geteuid())
	}
	root = repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "bin/skiff")); err != nil {
		t.Fatalf("bin/skiff is missing: run scripts/build first (%v)", err)
	}
	if out, err := dockerCmd(context.Background(), nil, "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Fatalf("the Docker engine does not answer: %v: %s", err, out)
	}
	tag = os.Getenv("SKIFF_IMAGE")
	if tag == "" {
		tag = "skiff/node:dev"
	}
	ensureImage(t, root, tag)
	return root, tag
}

// ensureImage runs scripts/image unless the image exists and is newer than
// bin/skiff and every file it is built from.
func ensureImage(t *testing.T, root, tag string) {
	t.Helper()
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
	out, err := dockerCmd(context.Background(), nil, "image", "inspect", "-f", "{{.Created}}", tag)
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

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the repository root (no go.mod above the working directory)")
		}
		dir = parent
	}
}

// imagesTar is a tar stream for `docker cp - <c>:/var/lib/skiff` that
// drops the test image into the node's airgap folder, agent/images.
func imagesTar(t *testing.T, root string) []byte {
	t.Helper()
	img, err := os.ReadFile(filepath.Join(root, testImageTar))
	if err != nil {
		t.Fatalf("the test image is missing (scripts/build makes it): %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, d := range []string{"agent/", "agent/images/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o700, ModTime: now}); err != nil {
			t.Fatal(err)
		}
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: "agent/images/" + filepath.Base(testImageTar), Mode: 0o600, Size: int64(len(img)), ModTime: now}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(img); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// node is one node container: `skiff server` in the image, named after its
// container, host name and node name alike.
type node struct {
	name    string
	id      string
	started time.Time
	pod     string
	podIP   string
}

// startNode creates the container, preloads the test image into its data
// volume, starts it, and removes it (with its volumes) at the end of the
// test, printing its log first if the test failed.
func startNode(t *testing.T, tag, name string, images []byte) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	args := append([]string{"create", "--name", name, "--hostname", name}, nodeFlags...)
	args = append(args, tag, "server", "--node-name", name)
	id, err := dockerCmd(ctx, nil, args...)
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, id)
	}
	n := &node{name: name, id: id}
	t.Cleanup(func() {
		if t.Failed() {
			n.dumpLog(t)
		}
		if out, err := dockerCmd(context.Background(), nil, "rm", "-f", "-v", n.id); err != nil {
			t.Errorf("removing container %s: %v: %s", n.name, err, out)
		}
	})
	if out, err := dockerCmd(ctx, bytes.NewReader(images), "cp", "-", n.id+":/var/lib/skiff"); err != nil {
		t.Fatalf("preloading %s into %s: %v: %s", testImageTar, n.name, err, out)
	}
	n.started = time.Now()
	if out, err := dockerCmd(ctx, nil, "start", n.id); err != nil {
		t.Fatalf("starting %s: %v: %s", n.name, err, out)
	}
	return n
}

// dumpLog prints the container's state, the lines of its log that say
// something failed or stopped, and its last lines.
func (n *node) dumpLog(t *testing.T) {
	// docker logs replays the container's stderr on its own stderr.
	logs, _ := exec.Command("docker", "logs", n.id).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(logs)), "\n")
	var notable []string
	for _, l := range lines {
		if len(notable) < maxNotableLines && notableLine.MatchString(l) {
			notable = append(notable, l)
		}
	}
	state, _ := dockerCmd(context.Background(), nil, "inspect", "-f", "{{.State.Status}} (exit code {{.State.ExitCode}})", n.id)
	t.Logf("%s: container %s; lines of its log that tell of a failure or a stop:\n%s", n.name, state, strings.Join(notable, "\n"))
	t.Logf("%s: last %d lines of its log:\n%s", n.name, logTailLines, strings.Join(lines[max(0, len(lines)-logTailLines):], "\n"))
}

// notableLine matches log lines worth showing first when a node failed.
var notableLine = regexp.MustCompile(`^(F\d{4}|skiff(-entrypoint)?:)|(?i)(part failed|exited|signal|panic|fatal)`)

// exec runs a command in the node container; kubectl there uses the admin
// kubeconfig skiff wrote, /etc/skiff/skiff.yaml.
func (n *node) exec(ctx context.Context, args ...string) (string, error) {
	return dockerCmd(ctx, nil, append([]string{"exec", n.id}, args...)...)
}

func (n *node) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := n.exec(ctx, append([]string{"kubectl"}, args...)...)
	if err != nil {
		t.Fatalf("%s: kubectl %s: %v: %s", n.name, strings.Join(args, " "), err, out)
	}
	return out
}

// running fails the test at once if the container has stopped: nothing
// will come up any more (a host-wide `skiff killall` run by another test
// stops the skiff inside too).
func (n *node) running(t *testing.T) {
	t.Helper()
	out, err := dockerCmd(context.Background(), nil, "inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", n.id)
	if err != nil || !strings.HasPrefix(out, "true") {
		t.Fatalf("%s: the node container has stopped (running, exit code: %s %v); a `skiff killall` run on the host by another test stops the skiff inside node containers too", n.name, out, err)
	}
}

func (n *node) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, n, nodeReadyTimeout, "node "+n.name+" Ready", func(ctx context.Context) (bool, string) {
		out, err := n.exec(ctx, "kubectl", "get", "node", n.name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return err == nil && out == "True", out
	})
}

// runPod creates a pod of the preloaded test image (retrying while the
// default ServiceAccount does not exist yet), waits for it to run and fetches
// GET / on its pod IP from inside the node.
func (n *node) runPod(t *testing.T) {
	t.Helper()
	n.pod = "web"
	waitFor(t, n, podRunningTimeout, "pod "+n.pod+" created on "+n.name, func(ctx context.Context) (bool, string) {
		out, err := n.exec(ctx, "kubectl", "run", n.pod, "--image="+testImage, "--image-pull-policy=Never", "--port=8080", "--restart=Never")
		return err == nil || strings.Contains(out, "AlreadyExists"), out
	})
	waitFor(t, n, podRunningTimeout, "pod "+n.pod+" Running on "+n.name, func(ctx context.Context) (bool, string) {
		out, err := n.exec(ctx, "kubectl", "get", "pod", n.pod, "-o", "jsonpath={.status.phase} {.status.podIP}")
		phase, ip, _ := strings.Cut(out, " ")
		if err == nil && phase == "Running" && ip != "" {
			n.podIP = ip
			return true, out
		}
		return false, out
	})
	// busybox wget's -T crashes (1.35), so the shell's timeout bounds it.
	url := "http://" + n.podIP + ":8080/"
	waitFor(t, n, 30*time.Second, "GET "+url+" from "+n.name, func(ctx context.Context) (bool, string) {
		out, err := n.exec(ctx, "timeout", "5", "wget", "-q", "-O-", url)
		return err == nil && out == n.pod, out
	})
}

// checkPodCgroup finds the pod's cgroup in the host's tree: it must sit
// under the container's own cgroup (…/<container cgroup>/kubepods/…), not
// under the host's /kubepods that another node would share.
func (n *node) checkPodCgroup(t *testing.T) {
	t.Helper()
	uid := n.kubectl(t, "get", "pod", n.pod, "-o", "jsonpath={.metadata.uid}")
	pidText, err := dockerCmd(context.Background(), nil, "inspect", "-f", "{{.State.Pid}}", n.id)
	if err != nil {
		t.Fatalf("%s: docker inspect: %v: %s", n.name, err, pidText)
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		t.Fatalf("%s: container pid %q: %v", n.name, pidText, err)
	}
	hier, own := containerCgroup(t, pid)
	if own == "/" {
		t.Fatalf("%s: the container runs in the host's root cgroup; its pods cannot be told apart", n.name)
	}
	base := filepath.Join("/sys/fs/cgroup", hier, own, "kubepods")
	podDir := "pod" + uid
	var found []string
	for _, pattern := range []string{filepath.Join(base, podDir), filepath.Join(base, "*", podDir)} {
		m, _ := filepath.Glob(pattern)
		found = append(found, m...)
	}
	if len(found) == 0 {
		t.Errorf("%s: pod %s (uid %s) has no cgroup under the container's %s", n.name, n.pod, uid, base)
		return
	}
	t.Logf("%s: pod cgroup %s", n.name, found[0])
	for _, shared := range []string{filepath.Join("/sys/fs/cgroup", hier, "kubepods", podDir), filepath.Join("/sys/fs/cgroup", hier, "kubepods", "*", podDir)} {
		if m, _ := filepath.Glob(shared); len(m) > 0 {
			t.Errorf("%s: pod %s also has a cgroup in the host's shared /kubepods: %v", n.name, n.pod, m)
		}
	}
}

// containerCgroup returns the host-side cgroup of process pid: the memory
// hierarchy's folder under /sys/fs/cgroup and the path in it (cgroup v1),
// or "" and the unified path (cgroup v2).
func containerCgroup(t *testing.T, pid int) (hierarchy, path string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var unified string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" {
			unified = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", parts[1])); err == nil {
					return parts[1], parts[2]
				}
				return "memory", parts[2]
			}
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "", unified
	}
	t.Fatalf("no memory cgroup for pid %d in:\n%s", pid, b)
	return "", ""
}

// waitFor polls check every second until it holds or timeout passes; then
// the test fails naming what it waited for and the last answer. A node
// container that has stopped fails it at once.
func waitFor(t *testing.T, n *node, timeout time.Duration, what string, check func(ctx context.Context) (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		ok, out := check(ctx)
		cancel()
		if ok {
			return
		}
		last = out
		n.running(t)
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last answer: %s", what, timeout, last)
		}
		time.Sleep(time.Second)
	}
}

// dockerCmd runs docker with args (and stdin if not nil) and returns its
// output, trimmed; on failure the output holds stderr too.
func dockerCmd(ctx context.Context, stdin *bytes.Reader, args ...string) (string, error) {
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
