package node

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// Bounds of the harness, generous for a loaded 2-core CI box. The design
// puts node Ready about 3 s after exec and a pod with a preloaded image
// Running 0.65 s after create.
const (
	readyTimeout   = 120 * time.Second
	stopTimeout    = 30 * time.Second
	podTimeout     = 90 * time.Second
	kubectlTimeout = 90 * time.Second
	killallTimeout = 120 * time.Second
	logTailLines   = 120

	// testImage is what build/images/skiff-test-http.tar holds (see
	// scripts/testimage): HTTP on :8080; "/" answers the hostname, /healthz,
	// /echo?msg=x, /fetch?url=U; args "exit N" exit with N. Its only file
	// is /test-http.
	testImage    = "docker.io/skiff/test-http:v1"
	testImageTar = "skiff-test-http.tar"
	readyLine    = "skiff server is ready"
)

var (
	// skiffBin is the absolute path of the binary under test, and
	// testImagePath that of the test image tarball; set by TestMain.
	skiffBin      string
	testImagePath string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		if err := setup(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e/node: %v\n", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

const rootHint = "set SKIFF_BIN and SKIFF_TEST_IMAGE"

func setup() error {
	var err error
	if skiffBin, err = harness.FindBinary(rootHint); err != nil {
		return err
	}
	testImagePath = os.Getenv("SKIFF_TEST_IMAGE")
	if testImagePath == "" {
		root, err := harness.RepoRoot(rootHint)
		if err != nil {
			return err
		}
		testImagePath = filepath.Join(root, "build", "images", testImageTar)
	}
	if _, err := os.Stat(testImagePath); err != nil {
		return fmt.Errorf("test image: %v: scripts/build makes it, or point SKIFF_TEST_IMAGE at the tarball of %s", err, testImage)
	}
	if err := harness.RequireRoot("these tests run a real node"); err != nil {
		return err
	}
	// Each test ends with skiff killall, which stops every skiff process on
	// the host: never start beside another node or server.
	if busy := otherSkiffs(); len(busy) > 0 {
		return fmt.Errorf("skiff already runs on this host, and these tests end with skiff killall, which would stop it too: wait for it or stop it first (skiff killall):\n%s", strings.Join(busy, "\n"))
	}
	for _, tool := range []string{"iptables", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: install it (Debian: iptables, iproute2)", tool)
		}
	}
	return nil
}

// The shared helpers, under the names the tests use.
var (
	poll       = harness.Poll
	within     = harness.Within
	writeFile  = harness.WriteFile
	tailString = harness.TailString
)

// integration skips t under -short, and only then.
func integration(t *testing.T) {
	t.Helper()
	harness.Integration(t, "runs a real node")
}

// node is one skiff server with its agent, in a scratch dir of its test.
type node struct {
	t          *testing.T
	Root       string   // the test's scratch dir
	DataDir    string   // <Root>/data
	Port       int      // https-listen-port; Port+1 is the internal apiserver
	Kubeconfig string   // <Root>/kubeconfig.yaml
	Name       string   // --node-name, unique per test
	Args       []string // argv after the binary name
	proc       *harness.Process

	rest   *rest.Config
	client kubernetes.Interface
}

// newNode prepares a node: its scratch dir, the test image in
// <data-dir>/agent/images, and its command line; it does not start it.
// At the end of the test the server is killed if still running and
// `skiff killall` cleans the host for the next node test.
func newNode(t *testing.T, extraArgs ...string) *node {
	t.Helper()
	root := harness.ScratchDir(t, "skn")
	n := &node{
		t:       t,
		Root:    root,
		DataDir: filepath.Join(root, "data"),
		// Node servers listen on every address: the port must be free on all.
		Port:       harness.FreeServerPorts(t, ""),
		Kubeconfig: filepath.Join(root, "kubeconfig.yaml"),
		Name:       fmt.Sprintf("e2e-%s-%04d", strings.ToLower(shortName(t.Name())), rand.IntN(10000)),
		proc:       &harness.Process{Bin: skiffBin, LogPath: filepath.Join(root, "skiff.log")},
	}
	cfgFile := filepath.Join(root, "empty-config.yaml")
	writeFile(t, cfgFile, "# e2e: no settings here\n")
	n.Args = append([]string{
		"server",
		"--config", cfgFile,
		"--https-listen-port", strconv.Itoa(n.Port),
		"--data-dir", n.DataDir,
		"--write-kubeconfig", n.Kubeconfig,
		"--node-name", n.Name,
	}, extraArgs...)
	n.AddImage(testImagePath)
	t.Cleanup(func() {
		n.proc.Cleanup(t, logTailLines)
		if n.proc.Starts() > 0 {
			r := runSkiff(t, killallTimeout, "killall", "--data-dir", n.DataDir)
			if r.Code != 0 {
				t.Errorf("cleanup: skiff killall exited %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
		}
	})
	return n
}

func shortName(testName string) string {
	s := strings.TrimPrefix(testName, "TestE2ENode")
	s = strings.TrimPrefix(s, "TestE2E")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}

// in is n for a subtest: the helpers that fail report to t. It is for
// helpers that only read n (waits, lists, kubectl), not for Start or Stop.
func (n *node) in(t *testing.T) *node {
	c := *n
	c.t = t
	return &c
}

// ImagesDir is <data-dir>/agent/images, the airgap images folder.
func (n *node) ImagesDir() string { return filepath.Join(n.DataDir, "agent", "images") }

// AddImage copies an image tarball into the airgap images folder.
func (n *node) AddImage(src string) {
	n.t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		n.t.Fatalf("reading %s: %v", src, err)
	}
	n.AddImageBytes(filepath.Base(src), b)
}

// AddImageBytes writes name with content into the airgap images folder.
func (n *node) AddImageBytes(name string, content []byte) {
	n.t.Helper()
	if err := os.MkdirAll(n.ImagesDir(), 0o755); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.ImagesDir(), name), content, 0o644); err != nil {
		n.t.Fatal(err)
	}
}

// Start launches the server and waits until it is ready.
func (n *node) Start() {
	n.t.Helper()
	n.Launch()
	n.WaitReady()
}

// Launch starts skiff server in the background.
func (n *node) Launch() {
	n.t.Helper()
	if n.running() {
		n.t.Fatal("Launch: skiff server already running")
	}
	n.proc.Start(n.t, n.Args, nil)
}

func (n *node) running() bool { return n.proc.Running() }

// thisStartLog is the server log since the current start began.
func (n *node) thisStartLog() string { return n.proc.StartLog() }

// WaitReady waits until the current start logs "skiff server is ready",
// then builds a client from the kubeconfig it wrote.
func (n *node) WaitReady() {
	t := n.t
	t.Helper()
	begin := time.Now()
	for !strings.Contains(n.thisStartLog(), readyLine) {
		if !n.running() {
			t.Fatalf("skiff server exited before it was ready (%v); see its log below", n.proc.Err())
		}
		if time.Since(begin) > readyTimeout {
			t.Fatalf("skiff server did not log %q within %v", readyLine, readyTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cfg, err := harness.RestConfig(n.Kubeconfig)
	if err != nil {
		t.Fatalf("the server logged %q but its kubeconfig does not load: %v", readyLine, err)
	}
	n.rest = cfg
	n.client = harness.NewClient(cfg, 100, 200)
	t.Logf("skiff server %s (start #%d, port %d) ready after %v", n.Name, n.proc.Starts(), n.Port, time.Since(begin).Round(time.Millisecond))
}

// Stop sends SIGTERM and expects exit status 0 within stopTimeout (it
// kills the server past that). Containers are meant to outlive it.
func (n *node) Stop() {
	n.t.Helper()
	n.proc.Terminate(n.t, stopTimeout)
}

// WaitExit waits up to d for the server to exit by itself and returns its
// exit code.
func (n *node) WaitExit(d time.Duration) int {
	n.t.Helper()
	select {
	case <-n.proc.Exited():
	case <-time.After(d):
		n.proc.Kill()
		n.t.Fatalf("skiff server still running %v after start; want it to stop by itself", d)
	}
	code, ok := n.proc.ExitCode()
	if !ok {
		n.t.Fatalf("waiting for skiff server: %v", n.proc.Err())
	}
	return code
}

// Killall runs `skiff killall` for this node's data dir and fails the test
// if it fails.
func (n *node) Killall() {
	n.t.Helper()
	r := runSkiff(n.t, killallTimeout, "killall", "--data-dir", n.DataDir)
	n.t.Logf("skiff killall (exit %d, %v):\n%s%s", r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
	if r.Code != 0 || r.TimedOut {
		n.t.Fatalf("skiff killall failed (exit %d, timed out %v)", r.Code, r.TimedOut)
	}
	if n.running() {
		select {
		case <-n.proc.Exited():
		case <-time.After(5 * time.Second):
			n.t.Errorf("skiff server still running after skiff killall returned")
		}
	}
}

func (n *node) kubectlRunner() harness.Kubectl {
	return harness.Kubectl{Bin: skiffBin, Kubeconfig: n.Kubeconfig, CacheRoot: n.Root, Timeout: kubectlTimeout}
}

// kubectlCmd is `<bin> kubectl --kubeconfig <kubeconfig> args...`.
func (n *node) kubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	return n.kubectlRunner().Cmd(ctx, args...)
}

// kubectlRun runs kubectl and returns its stdout, stderr and exit code
// (-1 if it did not run to an exit).
func (n *node) kubectlRun(stdin io.Reader, args ...string) (string, string, int) {
	out, errOut, err := n.kubectlRunner().Run(stdin, args...)
	code := harness.ExitCode(err)
	if code == -1 {
		errOut += err.Error()
	}
	return out, errOut, code
}

// kubectl runs kubectl and fails the test if it fails.
func (n *node) kubectl(args ...string) string {
	n.t.Helper()
	out, errOut, code := n.kubectlRun(nil, args...)
	if code != 0 {
		n.t.Fatalf("skiff kubectl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// apply pipes a manifest into kubectl apply -f -.
func (n *node) apply(manifest string) {
	n.t.Helper()
	out, errOut, code := n.kubectlRun(strings.NewReader(manifest), "apply", "-f", "-")
	if code != 0 {
		n.t.Fatalf("kubectl apply: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// result is how a short-lived skiff process ended.
type result = harness.Result

// runSkiff runs the binary to completion (killed after timeout).
func runSkiff(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	r, err := harness.Run(skiffBin, timeout, nil, args...)
	if err != nil {
		t.Error(err)
	}
	return r
}

// waitAvailable waits until the Deployment has all its replicas updated,
// ready and available, and returns its pods.
func (n *node) waitAvailable(ns, name string, d time.Duration) []corev1.Pod {
	n.t.Helper()
	ctx := within(n.t, d)
	var dep *appsv1.Deployment
	ok, err := poll(ctx, 500*time.Millisecond, func() (bool, error) {
		var err error
		dep, err = n.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		want := int32(1)
		if dep.Spec.Replicas != nil {
			want = *dep.Spec.Replicas
		}
		st := dep.Status
		return st.ObservedGeneration >= dep.Generation && st.UpdatedReplicas == want &&
			st.ReadyReplicas == want && st.AvailableReplicas == want && st.Replicas == want, nil
	})
	if !ok {
		n.t.Fatalf("deployment %s/%s not available within %v: %v; status %+v\npods:\n%s", ns, name, d, err, statusOf(dep), n.describePods(ns))
	}
	pods := n.podsOf(ns, "app="+name)
	if want := int(*dep.Spec.Replicas); len(pods) != want {
		n.t.Fatalf("deployment %s/%s is available but has %d pods, want %d:\n%s", ns, name, len(pods), want, n.describePods(ns))
	}
	return pods
}

func statusOf(d *appsv1.Deployment) any {
	if d == nil {
		return nil
	}
	return d.Status
}

// podsOf lists the pods of a label selector that are not being deleted.
func (n *node) podsOf(ns, selector string) []corev1.Pod {
	n.t.Helper()
	ctx := within(n.t, 30*time.Second)
	list, err := n.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		n.t.Fatalf("listing pods %s in %s: %v", selector, ns, err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods
}

// waitPod waits until cond holds for the pod and returns it.
func (n *node) waitPod(ns, name string, d time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	n.t.Helper()
	ctx := within(n.t, d)
	var pod *corev1.Pod
	ok, err := poll(ctx, 500*time.Millisecond, func() (bool, error) {
		var err error
		pod, err = n.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && cond(pod), err
	})
	if !ok {
		n.t.Fatalf("pod %s/%s: not %s within %v: %v\n%s", ns, name, what, d, err, n.describePods(ns))
	}
	return pod
}

func podRunning(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// describePods is a short account of the pods of a namespace and their
// events, for failure messages.
func (n *node) describePods(ns string) string {
	out, errOut, _ := n.kubectlRun(nil, "get", "pods", "-n", ns, "-o", "wide")
	ev, _, _ := n.kubectlRun(nil, "get", "events", "-n", ns, "--sort-by=.lastTimestamp")
	return out + errOut + "events:\n" + tailString(ev, 30)
}

// nodeReady reports whether kubectl shows the node Ready, and what it
// printed.
func (n *node) nodeReady() (bool, string) {
	out, errOut, code := n.kubectlRun(nil, "get", "nodes", "--no-headers")
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == n.Name {
			return f[1] == "Ready", strings.TrimSpace(out)
		}
	}
	return false, fmt.Sprintf("exit %d: %s%s", code, out, errOut)
}

// httpClient is for plain HTTP to pods, services and node ports.
var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

func httpGet(url string) (int, string, error) { return harness.HTTPGet(httpClient, url) }

// expectHTTP GETs url until it answers 200 with a body that satisfies ok
// (new iptables rules and endpoints take a moment), and returns the body.
func expectHTTP(t *testing.T, what, url string, d time.Duration, ok func(string) bool) string {
	t.Helper()
	ctx := within(t, d)
	var body string
	var code int
	good, err := poll(ctx, 500*time.Millisecond, func() (bool, error) {
		var err error
		code, body, err = httpGet(url)
		return err == nil && code == http.StatusOK && ok(body), err
	})
	if !good {
		t.Errorf("%s: GET %s: no good answer within %v: last HTTP %d %q, error %v", what, url, d, code, body, err)
		return ""
	}
	return body
}

// hostIPv4 is the IPv4 address of the interface of the default route
// (from /proc/net/route: no packet is sent to find it).
func hostIPv4(t *testing.T) net.IP {
	t.Helper()
	f, err := os.Open("/proc/net/route")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	iface := ""
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 8 && fields[1] == "00000000" && fields[7] == "00000000" {
			iface = fields[0]
			break
		}
	}
	if iface == "" {
		t.Fatal("no default route in /proc/net/route: the node tests need a non-loopback address")
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.To4()
		}
	}
	t.Fatalf("interface %s of the default route has no IPv4 address", iface)
	return nil
}
