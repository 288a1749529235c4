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

	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
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
	bin, size, image, err := benchutil.NodeInputs(o.bin, o.imageTar)
	if err != nil {
		return err
	}
	var args []string
	if o.pprof != "" {
		args = append(args, "--kube-apiserver-arg=profiling=true")
	}
	srv, err := benchutil.StartServer(benchutil.ServerConfig{
		Bin:    bin,
		Images: map[string][]byte{filepath.Base(o.imageTar): image},
		Args:   append(args, o.args...),
		Keep:   o.keep,
	})
	if err != nil {
		return err
	}
	defer srv.Cleanup()

	// Phase 1: node Ready and the first pod Running, both from exec.
	pctx, cancel := srv.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := benchutil.WaitClient(pctx, srv.Kubeconfig)
	if err != nil {
		return srv.Fail(fmt.Errorf("kubeconfig: %w", err))
	}
	var nodeReady, firstRunning time.Duration
	var nodeErr, podErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		nodeErr = benchutil.WaitNodeReady(pctx, client, srv.NodeName, nil)
		nodeReady = time.Since(srv.Began)
	}()
	go func() {
		defer wg.Done()
		podErr = firstPod(pctx, client, testImage)
		firstRunning = time.Since(srv.Began)
	}()
	wg.Wait()
	if nodeErr != nil {
		return srv.Fail(fmt.Errorf("node Ready: %w", nodeErr))
	}
	if podErr != nil {
		return srv.Fail(fmt.Errorf("first pod: %w", podErr))
	}
	readyLog := benchutil.LogTime(srv.Log, "skiff server is ready", srv.Began)
	fmt.Fprintf(os.Stderr, "node Ready %s, first pod Running %s after exec\n", benchutil.FmtDur(nodeReady), benchutil.FmtDur(firstRunning))

	// Phase 2: start latency, one pod at a time, then in a burst.
	podImage := testImage
	if o.pause {
		podImage = pauseImage
	}
	var seq latencies
	if o.seq > 0 {
		if seq, err = seqLatency(pctx, client, o.seq, podImage); err != nil {
			return srv.Fail(fmt.Errorf("pod start latency, one after another: %w", err))
		}
		fmt.Fprintf(os.Stderr, "one after another: p50 %s p99 %s\n", benchutil.FmtDur(seq.p(50)), benchutil.FmtDur(seq.p(99)))
	}
	lat, err := podLatency(pctx, client, o.pods, podImage)
	if err != nil {
		return srv.Fail(fmt.Errorf("pod start latency: %w", err))
	}

	// Phase 3: idle, then memory, and the CPU used over the idle's second
	// half (the first has the burst's tail and the governor's release).
	fmt.Fprintf(os.Stderr, "%d pods Running; idling %s\n", o.pods+1, o.idle)
	if err := srv.Idle(ctx, o.idle/2); err != nil {
		return err
	}
	halfway := readMemory(srv.Cmd.Process.Pid)
	if err := srv.Idle(ctx, o.idle-o.idle/2); err != nil {
		return err
	}
	mem := readMemory(srv.Cmd.Process.Pid)

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
	row := func(name string, u benchutil.Usage) {
		fmt.Printf("  %-18s %8.1f %8.1f %8.1f\n", name, u.RSS, u.Anon, u.PSS)
	}
	row("skiff server", mem.server)
	row("containerd", mem.containerd)
	row("skiff+containerd", mem.server.Plus(mem.containerd))
	row(fmt.Sprintf("%d shims", mem.shims.N), mem.shims)
	row("  per shim", mem.shims.Per(mem.shims.N))
	row(fmt.Sprintf("%d in containers", mem.containers.N), mem.containers)
	second := (o.idle - o.idle/2).Seconds()
	fmt.Printf("idle CPU over the last %s, cores: skiff server %.3f, containerd %.3f, %d shims %.3f\n",
		o.idle-o.idle/2, mem.server.Cores(halfway.server, second), mem.containerd.Cores(halfway.containerd, second), mem.shims.N, mem.shims.Cores(halfway.shims, second))
	// Profiles after the figures: a failed download must not lose them.
	if o.pprof != "" {
		if err := benchutil.SaveProfiles(ctx, client, o.pprof); err != nil {
			fmt.Fprintln(os.Stderr, "bench: saving profiles:", err)
		}
	}

	// Stop like a user would, then killall (deferred) cleans the host.
	srv.Stop()
	return nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// firstPod creates a pod as soon as the API accepts it (the default
// ServiceAccount appears some seconds after the API serves) and waits until
// it runs.
func firstPod(ctx context.Context, c kubernetes.Interface, image string) error {
	pod := benchutil.PodSpec("bench-first", image, map[string]string{"bench": "first"})
	if err := benchutil.CreateWhenAccepted(ctx, c, namespace, pod); err != nil {
		return err
	}
	_, err := benchutil.WaitPod(ctx, c, namespace, "bench-first", benchutil.Running)
	return err
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
		if _, err := pods.Create(ctx, benchutil.PodSpec(name, image, map[string]string{"bench": "seq"}), metav1.CreateOptions{}); err != nil {
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
		if _, err := pods.Create(ctx, benchutil.PodSpec(name, image, map[string]string{"bench": "latency"}), metav1.CreateOptions{}); err != nil {
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

// memory is the node's idle memory and CPU, by part.
type memory struct {
	server, containerd, shims, containers benchutil.Usage
}

func readMemory(serverPID int) memory {
	n := benchutil.ReadNodeProcs(serverPID)
	return memory{
		server:     n.Server.Usage,
		containerd: benchutil.Sum(n.Containerd, nil),
		shims:      benchutil.Sum(n.Shims, nil),
		containers: benchutil.Sum(n.Containers, nil),
	}
}
