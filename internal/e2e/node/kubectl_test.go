package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// TestE2ENodeReady: by the time skiff server logs that it is ready, kubectl
// shows its node Ready and the default ServiceAccount exists, so a pod can
// be created at once.
func TestE2ENodeReady(t *testing.T) {
	integration(t)
	n := newNode(t)
	n.Start()
	if _, err := os.Stat(n.Kubeconfig); err != nil {
		t.Fatalf("server ready but no kubeconfig: %v", err)
	}
	if ok, out := n.nodeReady(); !ok {
		t.Errorf("skiff server logged %q but node %s is not Ready: kubectl get nodes: %s", readyLine, n.Name, out)
	}
	ctx := within(t, 10*time.Second)
	if _, err := n.client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("skiff server logged %q but the default ServiceAccount is not there: %v", readyLine, err)
	}
	// The node is itself: its InternalIP is the host's address.
	node, err := n.client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	host := hostIPv4(t).String()
	var addrs []string
	for _, a := range node.Status.Addresses {
		addrs = append(addrs, string(a.Type)+"="+a.Address)
		if a.Type == "InternalIP" && a.Address != host {
			t.Errorf("node InternalIP %s, want the default route interface's address %s", a.Address, host)
		}
	}
	t.Logf("node %s: %s, podCIDR %s, kubelet %s", n.Name, strings.Join(addrs, " "), node.Spec.PodCIDR, node.Status.NodeInfo.KubeletVersion)
	if node.Spec.PodCIDR == "" {
		t.Errorf("node %s has no podCIDR", n.Name)
	}
}

var kubectlManifest = webDeployment("e2e-kubectl", 2, "IfNotPresent", true)

// cpPod runs the test image with a static tar (testdata/minitar) mounted as
// /bin/tar: the image has no tar of its own, and kubectl cp runs one.
const cpPod = `apiVersion: v1
kind: Pod
metadata:
  name: cp
  namespace: e2e-kubectl
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: http
    image: ` + testImage + `
    imagePullPolicy: IfNotPresent
    volumeMounts:
    - name: tar
      mountPath: /bin/tar
      readOnly: true
    - name: data
      mountPath: /data
  volumes:
  - name: tar
    hostPath:
      path: %s
      type: File
  - name: data
    emptyDir: {}
`

// TestE2ENodeKubectl: a Deployment of 2 replicas of the test image becomes
// Available; kubectl logs, exec (with the exit code passed through),
// port-forward and cp work through port 6443.
func TestE2ENodeKubectl(t *testing.T) {
	integration(t)
	n := newNode(t)
	tarBin := buildMinitar(t, n.Root)
	n.Start()
	n.apply(kubectlManifest)
	n.apply(fmt.Sprintf(cpPod, tarBin))
	pods := n.waitAvailable("e2e-kubectl", "web", podTimeout)
	pod := pods[0].Name

	t.Run("logs", func(t *testing.T) {
		ctx := within(t, 30*time.Second)
		ok, _ := poll(ctx, 500*time.Millisecond, func() (bool, error) {
			out, _, _ := n.kubectlRun(nil, "logs", "-n", "e2e-kubectl", pod)
			return strings.Contains(out, "test-http: listening on :8080"), nil
		})
		if !ok {
			out, errOut, code := n.kubectlRun(nil, "logs", "-n", "e2e-kubectl", pod)
			t.Errorf("kubectl logs %s (exit %d) does not show the start line %q:\n%s%s", pod, code, "test-http: listening on :8080", out, errOut)
		}
		// The readiness probe's requests are logged too: logs stream.
		out, errOut, code := n.kubectlRun(nil, "logs", "-n", "e2e-kubectl", "deploy/web", "--tail", "1")
		if code != 0 || strings.TrimSpace(out) == "" {
			t.Errorf("kubectl logs deploy/web --tail 1: exit %d %q %s", code, out, errOut)
		}
	})

	t.Run("exec", func(t *testing.T) {
		for _, want := range []int{0, 3} {
			out, errOut, code := n.kubectlRun(nil, "exec", "-n", "e2e-kubectl", pod, "--", "/test-http", "exit", fmt.Sprint(want))
			if code != want {
				t.Errorf("kubectl exec %s -- /test-http exit %d: kubectl exit %d, want %d\nstdout: %s\nstderr: %s", pod, want, code, want, out, errOut)
			}
			if wantOut := fmt.Sprintf("test-http: exiting with code %d", want); !strings.Contains(out, wantOut) {
				t.Errorf("kubectl exec ... exit %d printed %q, want %q", want, out, wantOut)
			}
		}
		// stdin reaches the container: usage goes to stderr, exit 2.
		_, errOut, code := n.kubectlRun(strings.NewReader("ignored\n"), "exec", "-i", "-n", "e2e-kubectl", pod, "--", "/test-http", "bogus")
		if code != 2 || !strings.Contains(errOut, "usage:") {
			t.Errorf("kubectl exec -i ... /test-http bogus: exit %d, stderr %q; want exit 2 and the usage line", code, errOut)
		}
	})

	// crictl is linked into skiff: `skiff crictl` and the crictl link that
	// the agent puts in the runtime's folder both reach this node's
	// containerd (the default socket) and see the pod's container.
	t.Run("crictl", func(t *testing.T) {
		link := filepath.Join(n.DataDir, "data", "current", "bin", "crictl")
		for _, argv := range [][]string{{skiffBin, "crictl"}, {link}} {
			ps := append(argv[1:], "ps", "--label", "io.kubernetes.pod.name="+pod, "--name", "http", "--state", "Running", "-q")
			r, err := harness.Run(argv[0], 30*time.Second, nil, ps...)
			if err != nil || r.Code != 0 || len(strings.Fields(r.Stdout)) != 1 {
				t.Errorf("%s %s: %v, exit %d, want one container ID\nstdout: %s\nstderr: %s", argv[0], strings.Join(ps, " "), err, r.Code, r.Stdout, r.Stderr)
			}
			version := append(argv[1:], "version")
			r, err = harness.Run(argv[0], 30*time.Second, nil, version...)
			if err != nil || r.Code != 0 || !strings.Contains(r.Stdout, "RuntimeName:  containerd") {
				t.Errorf("%s %s: %v, exit %d, want RuntimeName containerd\nstdout: %s\nstderr: %s", argv[0], strings.Join(version, " "), err, r.Code, r.Stdout, r.Stderr)
			}
		}
		// A wrong flag is crictl's own error and exit code.
		r, _ := harness.Run(link, 30*time.Second, nil, "ps", "--no-such-flag")
		if r.Code == 0 || !strings.Contains(r.Stderr, "no-such-flag") {
			t.Errorf("crictl ps --no-such-flag: exit %d, stderr %q; want a failure naming the flag", r.Code, r.Stderr)
		}
	})

	// The kubelet's stats come from containerd (PodAndContainerStatsFromCRI):
	// the summary API and the resource metrics that metrics-server and
	// kubectl top read must still show each container.
	t.Run("stats", func(t *testing.T) {
		ctx := within(t, 90*time.Second)
		var summary, metrics string
		ok, _ := poll(ctx, time.Second, func() (bool, error) {
			summary, _, _ = n.kubectlRun(nil, "get", "--raw", "/api/v1/nodes/"+n.Name+"/proxy/stats/summary")
			metrics, _, _ = n.kubectlRun(nil, "get", "--raw", "/api/v1/nodes/"+n.Name+"/proxy/metrics/resource")
			return containerStats(summary, "e2e-kubectl", pod, "http") == nil &&
				strings.Contains(metrics, fmt.Sprintf(`container_memory_working_set_bytes{container="http",namespace="e2e-kubectl",pod=%q}`, pod)), nil
		})
		if !ok {
			t.Errorf("no stats for container http of pod %s: summary: %v\n/metrics/resource:\n%s", pod, containerStats(summary, "e2e-kubectl", pod, "http"), metrics)
		}
		configz, errOut, _ := n.kubectlRun(nil, "get", "--raw", "/api/v1/nodes/"+n.Name+"/proxy/configz")
		if !strings.Contains(configz, `"PodAndContainerStatsFromCRI":true`) {
			t.Errorf("the kubelet's /configz does not show PodAndContainerStatsFromCRI on: %s%s", configz, errOut)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := n.kubectlCmd(ctx, "port-forward", "-n", "e2e-kubectl", "pod/"+pod, ":8080")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		local := make(chan string, 1)
		go func() {
			re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					local <- m[1]
				}
			}
			close(local)
		}()
		var port string
		select {
		case p, ok := <-local:
			if !ok {
				t.Fatalf("kubectl port-forward ended without forwarding; stderr: %s", stderr.String())
			}
			port = p
		case <-time.After(30 * time.Second):
			t.Fatalf("kubectl port-forward printed no \"Forwarding from\" line within 30s; stderr: %s", stderr.String())
		}
		for i, path := range []string{"/", "/echo?msg=forwarded"} {
			code, body, err := httpGet("http://127.0.0.1:" + port + path)
			want := []string{pod, "forwarded"}[i]
			if err != nil || code != http.StatusOK || strings.TrimSpace(body) != want {
				t.Errorf("GET %s through kubectl port-forward: %d %q %v; want 200 %q\nkubectl stderr: %s", path, code, body, err, want, stderr.String())
			}
		}
	})

	t.Run("cp", func(t *testing.T) {
		n.in(t).waitPod("e2e-kubectl", "cp", podTimeout, "Running", podRunning)
		dir := t.TempDir()
		src := writeFile(t, filepath.Join(dir, "in.txt"), "copied through port 6443 by kubectl cp\n")
		if out, errOut, code := n.kubectlRun(nil, "cp", src, "e2e-kubectl/cp:/data/in.txt"); code != 0 {
			t.Fatalf("kubectl cp into the pod: exit %d\n%s%s", code, out, errOut)
		}
		// The file is in the container, with its content.
		back := filepath.Join(dir, "back.txt")
		if out, errOut, code := n.kubectlRun(nil, "cp", "e2e-kubectl/cp:/data/in.txt", back); code != 0 {
			t.Fatalf("kubectl cp out of the pod: exit %d\n%s%s", code, out, errOut)
		}
		got, err := os.ReadFile(back)
		if err != nil || string(got) != "copied through port 6443 by kubectl cp\n" {
			t.Errorf("round trip through kubectl cp: %q %v", got, err)
		}
	})
}

// buildMinitar builds testdata/minitar static into dir and returns its
// path.
func buildMinitar(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("kubectl cp needs a tar in the pod, built from testdata/minitar: go not found: %v", err)
	}
	out := filepath.Join(dir, "tar")
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, "./testdata/minitar")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/minitar: %v\n%s", err, b)
	}
	return out
}

// containerStats checks that a stats summary (the kubelet's
// /stats/summary) holds CPU and memory figures for the container.
func containerStats(summary, namespace, pod, container string) error {
	var s struct {
		Pods []struct {
			PodRef     struct{ Name, Namespace string }
			Containers []struct {
				Name string
				CPU  *struct {
					UsageCoreNanoSeconds *uint64
				}
				Memory *struct {
					WorkingSetBytes *uint64
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(summary), &s); err != nil {
		return fmt.Errorf("summary does not parse: %w", err)
	}
	for _, p := range s.Pods {
		if p.PodRef.Namespace != namespace || p.PodRef.Name != pod {
			continue
		}
		for _, c := range p.Containers {
			if c.Name != container {
				continue
			}
			if c.CPU == nil || c.CPU.UsageCoreNanoSeconds == nil || *c.CPU.UsageCoreNanoSeconds == 0 {
				return fmt.Errorf("container %s has no CPU usage", container)
			}
			if c.Memory == nil || c.Memory.WorkingSetBytes == nil || *c.Memory.WorkingSetBytes == 0 {
				return fmt.Errorf("container %s has no memory working set", container)
			}
			return nil
		}
		return fmt.Errorf("pod %s has no container %s in the summary", pod, container)
	}
	return fmt.Errorf("pod %s/%s is not in the summary", namespace, pod)
}
