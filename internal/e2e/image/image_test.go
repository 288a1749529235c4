package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
)

// Bounds of these tests: DESIGN.md measures a node Ready about 3 s after
// exec on the host; a container adds little, the rest is slack for a loaded
// 2-core box running other tests.
const (
	nodeReadyTimeout  = 90 * time.Second
	podRunningTimeout = 90 * time.Second
)

// testImage is what the test pods run: build/images/skiff-test-http.tar
// (scripts/testimage) answers GET / with its host name, the pod's name.
const testImage = dh.TestImage

// TestE2ENodeImageTwoNodes runs two node containers of the image at once
// (two independent single-node clusters on one host): both nodes become
// Ready and run a pod of the preloaded test image that answers on its pod IP,
// and each node's pods live under its own container's cgroup, never under a
// shared /kubepods.
func TestE2ENodeImageTwoNodes(t *testing.T) {
	env := dh.Setup(t)
	images := dh.ImagesTar(t, env.Root)

	suffix := dh.Suffix()
	nodes := []*node{
		startNode(t, env.Tag, "skiff-e2e-"+suffix+"-a", images),
		startNode(t, env.Tag, "skiff-e2e-"+suffix+"-b", images),
	}
	t.Run("nodes", func(t *testing.T) {
		for _, n := range nodes {
			t.Run(n.Name, func(t *testing.T) {
				t.Parallel()
				n.waitReady(t)
				t.Logf("%s: node Ready %.1f s after docker start", n.Name, time.Since(n.Started).Seconds())
				ready := time.Now()
				n.runPod(t)
				t.Logf("%s: pod %s Running at %s and answering %.1f s after that", n.Name, n.pod, n.podIP, time.Since(ready).Seconds())
			})
		}
	})
	if t.Failed() {
		return
	}
	// Both clusters ran side by side: their pods are still up, each in its
	// own container's cgroup.
	for _, n := range nodes {
		if phase := n.Kubectl(t, "get", "pod", n.pod, "-o", "jsonpath={.status.phase}"); phase != "Running" {
			t.Errorf("%s: pod %s is %q after the other node came up, want Running", n.Name, n.pod, phase)
		}
		n.checkPodCgroup(t)
	}
}

// node is one node container: `skiff server` in the image, named after its
// container, host name and node name alike.
type node struct {
	*dh.Node
	pod   string
	podIP string
}

// startNode starts a server node with the test image preloaded; it is
// removed (with its volumes) at the end of the test, its log printed first
// if the test failed.
func startNode(t *testing.T, tag, name string, images []byte) *node {
	t.Helper()
	return &node{Node: dh.StartNode(t, dh.NodeOptions{
		Tag: tag, Name: name, Preload: images,
		Args: []string{"server", "--node-name", name},
	})}
}

func (n *node) waitReady(t *testing.T) {
	t.Helper()
	dh.WaitFor(t, nodeReadyTimeout, "node "+n.Name+" Ready", func(ctx context.Context) (bool, string) {
		out, err := n.Exec(ctx, "kubectl", "get", "node", n.Name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return err == nil && out == "True", out
	}, n.Node)
}

// runPod creates a pod of the preloaded test image (retrying while the
// default ServiceAccount does not exist yet), waits for it to run and fetches
// GET / on its pod IP from inside the node.
func (n *node) runPod(t *testing.T) {
	t.Helper()
	n.pod = "web"
	dh.WaitFor(t, podRunningTimeout, "pod "+n.pod+" created on "+n.Name, func(ctx context.Context) (bool, string) {
		out, err := n.Exec(ctx, "kubectl", "run", n.pod, "--image="+testImage, "--image-pull-policy=Never", "--port=8080", "--restart=Never")
		return err == nil || strings.Contains(out, "AlreadyExists"), out
	}, n.Node)
	dh.WaitFor(t, podRunningTimeout, "pod "+n.pod+" Running on "+n.Name, func(ctx context.Context) (bool, string) {
		out, err := n.Exec(ctx, "kubectl", "get", "pod", n.pod, "-o", "jsonpath={.status.phase} {.status.podIP}")
		phase, ip, _ := strings.Cut(out, " ")
		if err == nil && phase == "Running" && ip != "" {
			n.podIP = ip
			return true, out
		}
		return false, out
	}, n.Node)
	// busybox wget's -T crashes (1.35), so the shell's timeout bounds it.
	url := "http://" + n.podIP + ":8080/"
	dh.WaitFor(t, 30*time.Second, "GET "+url+" from "+n.Name, func(ctx context.Context) (bool, string) {
		out, err := n.Exec(ctx, "timeout", "5", "wget", "-q", "-O-", url)
		return err == nil && out == n.pod, out
	}, n.Node)
}

// checkPodCgroup finds the pod's cgroup in the host's tree: it must sit
// under the container's own cgroup (…/<container cgroup>/kubepods/…), not
// under the host's /kubepods that another node would share.
func (n *node) checkPodCgroup(t *testing.T) {
	t.Helper()
	uid := n.Kubectl(t, "get", "pod", n.pod, "-o", "jsonpath={.metadata.uid}")
	pidText := dh.MustDocker(t, "inspect", "-f", "{{.State.Pid}}", n.ID)
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		t.Fatalf("%s: container pid %q: %v", n.Name, pidText, err)
	}
	hier, own := containerCgroup(t, pid)
	if own == "/" {
		t.Fatalf("%s: the container runs in the host's root cgroup; its pods cannot be told apart", n.Name)
	}
	base := filepath.Join("/sys/fs/cgroup", hier, own, "kubepods")
	podDir := "pod" + uid
	var found []string
	for _, pattern := range []string{filepath.Join(base, podDir), filepath.Join(base, "*", podDir)} {
		m, _ := filepath.Glob(pattern)
		found = append(found, m...)
	}
	if len(found) == 0 {
		t.Errorf("%s: pod %s (uid %s) has no cgroup under the container's %s", n.Name, n.pod, uid, base)
		return
	}
	t.Logf("%s: pod cgroup %s", n.Name, found[0])
	for _, shared := range []string{filepath.Join("/sys/fs/cgroup", hier, "kubepods", podDir), filepath.Join("/sys/fs/cgroup", hier, "kubepods", "*", podDir)} {
		if m, _ := filepath.Glob(shared); len(m) > 0 {
			t.Errorf("%s: pod %s also has a cgroup in the host's shared /kubepods: %v", n.Name, n.pod, m)
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
