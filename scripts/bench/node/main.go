// Command node measures `skiff server` with its node the way a user runs it,
// on a fresh data dir with the test image preloaded (airgap):
//
//   - time from exec to the node Ready;
//   - time from exec to the first pod Running (the pod is created as soon as
//     the API accepts it: kubeconfig written, default ServiceAccount there);
//   - pod start latency, create → Running as seen by a watch, over -seq pods
//     created one after another (each once the one before runs: the
//     latency of one pod start), and over -pods pods created in quick
//     succession (a burst: what the node does with a queue of them);
//   - resident memory of skiff + containerd, and of the shims, after -idle
//     with those pods running.
//
// A node is host-global: the bench refuses to start if skiff already runs,
// and ends with `skiff killall`, which leaves the host clean.
//
//	go run ./scripts/bench/node -bin ./bin/skiff -pods 50 -idle 60s
package main

import (
	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"

	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	testImage  = "docker.io/skiff/test-http:v1"
	pauseImage = "registry.k8s.io/pause:3.10"
	namespace  = "default"
)

type options struct {
	bin      string
	imageTar string
	pause    bool
	pods     int
	seq      int
	idle     time.Duration
	keep     bool
	pprof    string
	args     stringList
	timeout  time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "./bin/skiff", "path to the skiff binary")
	flag.StringVar(&o.imageTar, "image", "./build/images/skiff-test-http.tar", "tarball of "+testImage+", preloaded into <data-dir>/agent/images")
	flag.BoolVar(&o.pause, "pause", false, "run the latency pods from the embedded "+pauseImage+" instead of the test image")
	flag.IntVar(&o.pods, "pods", 50, "pods created back to back for the burst start latency")
	flag.IntVar(&o.seq, "seq", 50, "pods created one after another for the start latency (0: none)")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "how long the node idles with the pods before its RSS is read")
	flag.BoolVar(&o.keep, "keep", false, "keep the data dir and the server log (killall still runs)")
	flag.Var(&o.args, "arg", "an extra argument for skiff server, such as --kubelet-arg=v=2 (repeatable)")
	flag.StringVar(&o.pprof, "pprof", "", "after the idle, save the server's heap and goroutine profiles into this folder (turns the apiserver's profiling on)")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up on a phase that takes longer than this")
	flag.Parse()
	benchutil.Main(func(ctx context.Context) error { return run(ctx, o) }, "node stopped")
}

func run(ctx context.Context, o options) error {
	if o.pods < 1 {
		return errors.New("-pods must be at least 1")
	}
	if os.Geteuid() != 0 {
		return errors.New("a node needs root: run the bench as root")
	}
	bin, size, err := benchutil.Binary(o.bin)
	if err != nil {
		return err
	}
	image, err := os.ReadFile(o.imageTar)
	if err != nil {
		return fmt.Errorf("test image: %w (scripts/build makes it, or pass -image)", err)
	}
	if busy := runningSkiffs(); len(busy) > 0 {
		return fmt.Errorf("skiff already runs on this host, and the bench ends with skiff killall: stop it first\n%s", strings.Join(busy, "\n"))
	}

	// Short: kine's unix socket lives under <dir>/data/server.
	dir, err := os.MkdirTemp("/tmp", "skbn")
	if err != nil {
		return err
	}
	dataDir := filepath.Join(dir, "data")
	defer func() {
		killall(bin, dataDir)
		if o.keep {
			fmt.Fprintln(os.Stderr, "kept", dir)
		} else if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "bench: removing", dir+":", err)
		}
	}()
	imagesDir := filepath.Join(dataDir, "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(imagesDir, filepath.Base(o.imageTar)), image, 0o644); err != nil {
		return err
	}

	port, err := benchutil.FreeServerPorts()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig.yaml")
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	nodeName := fmt.Sprintf("skiff-bench-%d", os.Getpid())
	cmd := exec.Command(bin, "server",
		"--data-dir", dataDir,
		"--https-listen-port", strconv.Itoa(port),
		"--write-kubeconfig", kubeconfig,
		"--node-name", nodeName)
	if o.pprof != "" {
		cmd.Args = append(cmd.Args, "--kube-apiserver-arg=profiling=true")
	}
	cmd.Args = append(cmd.Args, o.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fail := func(err error) error { return fmt.Errorf("%w\n%s", err, benchutil.Tail(logPath, 25)) }

	// Phase 1: node Ready and the first pod Running, both from exec.
	pctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	gone := make(chan struct{}) // closed when the server has exited
	var stopping atomic.Bool
	go func() {
		err := <-exited
		if ctx.Err() == nil && !stopping.Load() {
			fmt.Fprintf(os.Stderr, "bench: skiff server exited: %v\n", err)
		}
		close(gone)
		cancel()
	}()
	client, err := waitClient(pctx, kubeconfig)
	if err != nil {
		return fail(fmt.Errorf("kubeconfig: %w", err))
	}
	var nodeReady, firstRunning time.Duration
	var nodeErr, podErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		nodeErr = benchutil.WaitNodeReady(pctx, client, nodeName, nil)
		nodeReady = time.Since(began)
	}()
	go func() {
		defer wg.Done()
		podErr = firstPod(pctx, client, testImage)
		firstRunning = time.Since(began)
	}()
	wg.Wait()
	if nodeErr != nil {
		return fail(fmt.Errorf("node Ready: %w", nodeErr))
	}
	if podErr != nil {
		return fail(fmt.Errorf("first pod: %w", podErr))
	}
	readyLog := logTime(logPath, "skiff server is ready", began)
	fmt.Fprintf(os.Stderr, "node Ready %s, first pod Running %s after exec\n", benchutil.FmtDur(nodeReady), benchutil.FmtDur(firstRunning))

	// Phase 2: start latency, one pod at a time, then in a burst.
	podImage := testImage
	if o.pause {
		podImage = pauseImage
	}
	var seq latencies
	if o.seq > 0 {
		if seq, err = seqLatency(pctx, client, o.seq, podImage); err != nil {
			return fail(fmt.Errorf("pod start latency, one after another: %w", err))
		}
		fmt.Fprintf(os.Stderr, "one after another: p50 %s p99 %s\n", benchutil.FmtDur(seq.p(50)), benchutil.FmtDur(seq.p(99)))
	}
	lat, err := podLatency(pctx, client, o.pods, podImage)
	if err != nil {
		return fail(fmt.Errorf("pod start latency: %w", err))
	}

	// Phase 3: idle, then memory, and the CPU used over the idle's second
	// half (the first has the burst's tail and the governor's release).
	fmt.Fprintf(os.Stderr, "%d pods Running; idling %s\n", o.pods+1, o.idle)
	idle := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-gone:
			return fail(errors.New("skiff server exited while idle"))
		case <-time.After(d):
			return nil
		}
	}
	if err := idle(o.idle / 2); err != nil {
		return err
	}
	halfway := readMemory(cmd.Process.Pid)
	if err := idle(o.idle - o.idle/2); err != nil {
		return err
	}
	mem := readMemory(cmd.Process.Pid)

	benchutil.PrintMachine()
	fmt.Printf("binary: %s, %.1f MiB\n", bin, float64(size)/(1<<20))
	fmt.Printf("exec → node Ready: %s\n", benchutil.FmtDur(nodeReady))
	if readyLog > 0 {
		fmt.Printf("exec → \"skiff server is ready\" logged: %s\n", benchutil.FmtDur(readyLog))
	}
	fmt.Printf("exec → first pod Running (%s, preloaded): %s\n", testImage, benchutil.FmtDur(firstRunning))
	if o.seq > 0 {
		fmt.Printf("pod start latency, create → Running seen by a watch, %d pods of %s created one after another: p50 %s p99 %s (min %s max %s)\n",
			o.seq, podImage, benchutil.FmtDur(seq.p(50)), benchutil.FmtDur(seq.p(99)), benchutil.FmtDur(seq.sorted[0]), benchutil.FmtDur(seq.sorted[len(seq.sorted)-1]))
	}
	fmt.Printf("pod start latency, create → Running seen by a watch, %d pods of %s created back to back (in %s): p50 %s p99 %s (min %s max %s); all Running %s after the first create\n",
		o.pods, podImage, benchutil.FmtDur(lat.creating), benchutil.FmtDur(lat.p(50)), benchutil.FmtDur(lat.p(99)), benchutil.FmtDur(lat.sorted[0]), benchutil.FmtDur(lat.sorted[len(lat.sorted)-1]), benchutil.FmtDur(lat.span))
	fmt.Printf("idle RSS after %s with %d pods:\n", o.idle, o.pods+1)
	fmt.Printf("                          RSS     anon      PSS  (MiB)\n")
	row := func(name string, g memGroup) {
		fmt.Printf("  %-18s %8.1f %8.1f %8.1f\n", name, g.rss, g.anon, g.pss)
	}
	row("skiff server", mem.server)
	row("containerd", mem.containerd)
	row("skiff+containerd", memGroup{rss: mem.server.rss + mem.containerd.rss, anon: mem.server.anon + mem.containerd.anon, pss: mem.server.pss + mem.containerd.pss})
	row(fmt.Sprintf("%d shims", mem.shims.n), mem.shims)
	per := math.Max(1, float64(mem.shims.n))
	row("  per shim", memGroup{rss: mem.shims.rss / per, anon: mem.shims.anon / per, pss: mem.shims.pss / per})
	row(fmt.Sprintf("%d in containers", mem.containers.n), mem.containers)
	second := (o.idle - o.idle/2).Seconds()
	cores := func(g, g0 memGroup) float64 { return (g.cpu - g0.cpu) / second }
	fmt.Printf("idle CPU over the last %s, cores: skiff server %.3f, containerd %.3f, %d shims %.3f\n",
		o.idle-o.idle/2, cores(mem.server, halfway.server), cores(mem.containerd, halfway.containerd), mem.shims.n, cores(mem.shims, halfway.shims))
	// Profiles after the figures: a failed download must not lose them.
	if o.pprof != "" {
		if err := saveProfiles(ctx, client, o.pprof); err != nil {
			fmt.Fprintln(os.Stderr, "bench: saving profiles:", err)
		}
	}

	// Stop like a user would, then killall (deferred) cleans the host.
	stopping.Store(true)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-gone:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// saveProfiles saves the server process's heap and goroutine profiles,
// served by the apiserver (all of the server's parts share its process).
func saveProfiles(ctx context.Context, c kubernetes.Interface, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range []struct{ file, path, debug string }{
		{"heap.pprof", "/debug/pprof/heap", "0"},
		{"heap.txt", "/debug/pprof/heap", "1"},
		{"goroutine.pprof", "/debug/pprof/goroutine", "0"},
		{"goroutines.txt", "/debug/pprof/goroutine", "1"},
	} {
		data, err := c.CoreV1().RESTClient().Get().AbsPath(p.path).Param("debug", p.debug).DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("profile %s: %w", p.path, err)
		}
		if err := os.WriteFile(filepath.Join(dir, p.file), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintln(os.Stderr, "profiles saved in", dir)
	return nil
}

// waitClient waits for the admin kubeconfig and a client from it.
func waitClient(ctx context.Context, path string) (kubernetes.Interface, error) {
	for {
		if _, err := os.Stat(path); err == nil {
			if cfg, err := clientcmd.BuildConfigFromFlags("", path); err == nil {
				cfg.QPS, cfg.Burst = 500, 1000
				return kubernetes.NewForConfig(cfg)
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func podSpec(name, image string, labels map[string]string) *corev1.Pod {
	zero := int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: "c", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
			}},
		},
	}
}

// firstPod creates a pod as soon as the API accepts it (the default
// ServiceAccount appears some seconds after the API serves) and waits until
// it runs.
func firstPod(ctx context.Context, c kubernetes.Interface, image string) error {
	pods := c.CoreV1().Pods(namespace)
	for {
		_, err := pods.Create(ctx, podSpec("bench-first", image, map[string]string{"bench": "first"}), metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last create error: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	for {
		p, err := pods.Get(ctx, "bench-first", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

type latencies struct {
	sorted   []time.Duration
	span     time.Duration // first create → last Running
	creating time.Duration // first create → last create returned
}

// p is the nearest-rank percentile.
func (l latencies) p(q float64) time.Duration {
	i := int(math.Ceil(q/100*float64(len(l.sorted)))) - 1
	return l.sorted[max(0, min(i, len(l.sorted)-1))]
}

// seqLatency creates n pods one after another, each once the one before
// runs, takes for each the time from just before its create call to the
// watch event that shows it Running, and then deletes them all and waits
// until they are gone, so that what follows finds the node as before.
func seqLatency(ctx context.Context, c kubernetes.Interface, n int, image string) (latencies, error) {
	pods := c.CoreV1().Pods(namespace)
	sel := metav1.ListOptions{LabelSelector: "bench=seq"}
	w, err := pods.Watch(ctx, sel)
	if err != nil {
		return latencies{}, err
	}
	defer w.Stop()
	var l latencies
	for i := range n {
		name := fmt.Sprintf("bench-seq-%03d", i)
		start := time.Now()
		if _, err := pods.Create(ctx, podSpec(name, image, map[string]string{"bench": "seq"}), metav1.CreateOptions{}); err != nil {
			return latencies{}, fmt.Errorf("creating %s: %w", name, err)
		}
		for running := false; !running; {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					return latencies{}, errors.New("the watch ended")
				}
				p, isPod := ev.Object.(*corev1.Pod)
				running = isPod && p.Name == name && p.Status.Phase == corev1.PodRunning
			case <-ctx.Done():
				return latencies{}, fmt.Errorf("%s not Running: %w", name, ctx.Err())
			}
		}
		l.sorted = append(l.sorted, time.Since(start))
	}
	sort.Slice(l.sorted, func(i, j int) bool { return l.sorted[i] < l.sorted[j] })

	// A grace period, so that each pod's object goes only once the kubelet
	// stopped its containers; then a pause for the sandboxes' teardown.
	one := int64(1)
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &one}, sel); err != nil {
		return latencies{}, fmt.Errorf("deleting the pods: %w", err)
	}
	for {
		list, err := pods.List(ctx, sel)
		if err == nil && len(list.Items) == 0 {
			select {
			case <-ctx.Done():
				return latencies{}, ctx.Err()
			case <-time.After(10 * time.Second):
				return l, nil
			}
		}
		select {
		case <-ctx.Done():
			return latencies{}, fmt.Errorf("the pods were not deleted: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// podLatency creates n pods back to back and takes, for each, the time from
// just before its create call to the watch event that shows it Running.
func podLatency(ctx context.Context, c kubernetes.Interface, n int, image string) (latencies, error) {
	pods := c.CoreV1().Pods(namespace)
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: "bench=latency"})
	if err != nil {
		return latencies{}, err
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	running := map[string]time.Time{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			now := time.Now()
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted || p.Status.Phase != corev1.PodRunning {
				continue
			}
			mu.Lock()
			if _, seen := running[p.Name]; !seen {
				running[p.Name] = now
			}
			all := len(running) == n
			mu.Unlock()
			if all {
				return
			}
		}
	}()
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("bench-%03d", i)
		mu.Lock()
		created[name] = time.Now()
		mu.Unlock()
		if _, err := pods.Create(ctx, podSpec(name, image, map[string]string{"bench": "latency"}), metav1.CreateOptions{}); err != nil {
			return latencies{}, fmt.Errorf("creating %s: %w", name, err)
		}
	}
	creating := time.Since(start)
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		return latencies{}, fmt.Errorf("only %d of %d pods Running: %w", len(running), n, ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	l := latencies{creating: creating}
	var last time.Time
	for name, t := range running {
		l.sorted = append(l.sorted, t.Sub(created[name]))
		if t.After(last) {
			last = t
		}
	}
	if len(l.sorted) < n {
		return latencies{}, fmt.Errorf("the watch ended with %d of %d pods Running", len(l.sorted), n)
	}
	sort.Slice(l.sorted, func(i, j int) bool { return l.sorted[i] < l.sorted[j] })
	l.span = last.Sub(start)
	return l, nil
}

// logTime is when a line containing s was first written to the log,
// relative to began, from klog's timestamp (0 if not found).
func logTime(path, s string, began time.Time) time.Duration {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, s) {
			continue
		}
		// klog: Lmmdd hh:mm:ss.uuuuuu ...
		f := strings.Fields(l)
		if len(f) < 2 || len(f[0]) != 5 {
			return 0
		}
		t, err := time.ParseInLocation("0102 15:04:05.000000", f[0][1:]+" "+f[1], time.Local)
		if err != nil {
			return 0
		}
		t = time.Date(began.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.Local)
		return t.Sub(began)
	}
	return 0
}

type memGroup struct {
	n              int
	rss, anon, pss float64 // MiB; PSS shares each page among the processes mapping it
	cpu            float64 // seconds of CPU used since each process started
}

type memory struct {
	server, containerd, shims, containers memGroup
}

// readMemory sorts skiff's processes: the server, its containerd (the
// bundle's, run with --address at skiff's socket), the shims (the bundled
// runc shim, run with -address at skiff's socket) and what runs under the
// shims.
func readMemory(serverPID int) memory {
	var m memory
	add := func(g *memGroup, pid int) {
		g.n++
		g.rss += statusMiB(pid, "VmRSS:")
		g.anon += statusMiB(pid, "RssAnon:")
		g.pss += pssMiB(pid)
		g.cpu += benchutil.CPUSeconds(pid)
	}
	add(&m.server, serverPID)
	parents := map[int]int{}
	var shims []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := benchutil.PPID(pid); ok {
			parents[pid] = pp
		}
		argv := cmdline(pid)
		if len(argv) == 0 {
			continue
		}
		switch {
		case filepath.Base(argv[0]) == "containerd" && hasFlag(argv, "--address", skiffSocket):
			add(&m.containerd, pid)
		case hasFlag(argv, "-address", skiffSocket):
			add(&m.shims, pid)
			shims = append(shims, pid)
		}
	}
	isShim := map[int]bool{}
	for _, s := range shims {
		isShim[s] = true
	}
	for pid := range parents {
		for a, n := parents[pid], 0; a > 1 && n < 64; a, n = parents[a], n+1 {
			if isShim[a] {
				add(&m.containers, pid)
				break
			}
		}
	}
	return m
}

// hasFlag says whether argv holds flag followed by value.
func hasFlag(argv []string, flag, value string) bool {
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == flag && argv[i+1] == value {
			return true
		}
	}
	return false
}

func cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

func isSkiffExe(pid int) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && strings.HasPrefix(filepath.Base(strings.TrimSuffix(exe, " (deleted)")), "skiff")
}

// skiffSocket is skiff's containerd socket, on its containerd's and its
// shims' command lines.
const skiffSocket = "/run/skiff/containerd/containerd.sock"

// runningSkiffs lists skiff servers, agents and containerds on the host.
func runningSkiffs() []string {
	var busy []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		argv := cmdline(pid)
		if len(argv) == 0 {
			continue
		}
		role := isSkiffExe(pid) && len(argv) > 1 && (argv[1] == "server" || argv[1] == "agent")
		if role || (filepath.Base(argv[0]) == "containerd" && hasFlag(argv, "--address", skiffSocket)) {
			busy = append(busy, fmt.Sprintf("  pid %d: %s", pid, strings.Join(argv, " ")))
		}
	}
	return busy
}

func killall(bin, dataDir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "killall", "--data-dir", dataDir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: skiff killall: %v\n%s", err, out.String())
	}
}

// pssMiB is the process's proportional set size, from smaps_rollup.
// statusMiB is benchutil.StatusMiB, zero when unreadable: a process may
// exit while it is being measured.
func statusMiB(pid int, key string) float64 {
	v, _ := benchutil.StatusMiB(pid, key)
	return v
}

func pssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Pss:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
