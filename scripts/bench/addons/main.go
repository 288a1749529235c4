// Command addons measures what the built-in addons of `skiff server` give
// and cost, the way a user runs it: on a fresh data dir with the test image
// preloaded (airgap),
//
//   - the time from exec to the node Ready, to CoreDNS Ready (the pod of
//     the Deployment kube-system/coredns), to a pod's DNS lookup of
//     kubernetes.default answered (a client pod of the test image is
//     created as soon as the API accepts it and asked to resolve the name
//     until it answers the kubernetes Service's address), and to the
//     metrics API serving the node (what `kubectl top nodes` reads);
//   - DNS under load from that pod (the test image's /dnsload: UDP A
//     queries, each worker sending its next once its last is answered):
//     queries a second and latency against CoreDNS for a cluster name and
//     for a name it forwards upstream, and for that name straight against
//     the host's resolver;
//   - with the client pod deleted, after -idle, the memory of each part of
//     the node (skiff server, containerd, CoreDNS, the shims, the pause
//     containers) and its CPU over the idle's second half;
//   - the binary's size.
//
// -disable passes --disable to the server, so that a run without addons
// gives what they cost; what a disabled addon would give is not measured.
//
// A node is host-global: the bench refuses to start if skiff already runs,
// and ends with `skiff killall`, which leaves the host clean.
//
//	go run ./scripts/bench/addons -bin ./bin/skiff -idle 60s
package main

import (
	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"

	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	testImage = "docker.io/skiff/test-http:v1"
	namespace = "default"
	clientPod = "bench-dns-client"
	// clusterName is the cluster name the DNS load asks for.
	clusterName = "kubernetes.default.svc.cluster.local"
	// mb is a megabyte as the targets count it.
	mb = 1e6
)

// addons are the names --disable takes.
var addons = []string{"coredns", "local-storage", "servicelb", "metrics-server"}

type options struct {
	bin            string
	imageTar       string
	corednsImage   string
	idle           time.Duration
	disable        string
	upstreamName   string
	dnsDuration    time.Duration
	dnsConcurrency int
	keep           bool
	pprof          string
	args           stringList
	timeout        time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "./bin/skiff", "path to the skiff binary")
	flag.StringVar(&o.imageTar, "image", "./build/images/skiff-test-http.tar", "tarball of "+testImage+", preloaded into <data-dir>/agent/images")
	flag.StringVar(&o.corednsImage, "coredns-image", "./embedded/"+runtime.GOARCH+"/images/coredns.tar", "the CoreDNS image the binary carries, for its share of the binary's size (left out when missing)")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "how long the node idles, the client pod deleted, before its memory is read")
	flag.StringVar(&o.disable, "disable", "", "passed to skiff server as --disable: addons to leave out, comma-separated ("+strings.Join(addons, ",")+")")
	flag.StringVar(&o.upstreamName, "upstream-name", "proxy.golang.org", "a name outside the cluster that the host's resolver answers with an A record, for the forwarded DNS load")
	flag.DurationVar(&o.dnsDuration, "dns-duration", 10*time.Second, "how long each DNS load runs")
	flag.IntVar(&o.dnsConcurrency, "dns-concurrency", 4, "DNS load workers, each sending its next query once its last is answered")
	flag.BoolVar(&o.keep, "keep", false, "keep the data dir and the server log (killall still runs)")
	flag.StringVar(&o.pprof, "pprof", "", "after the idle, save the server's heap and goroutine profiles into this folder (turns the apiserver's profiling on)")
	flag.Var(&o.args, "arg", "an extra argument for skiff server, such as --kubelet-arg=v=2 (repeatable)")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up on a phase that takes longer than this")
	flag.Parse()
	benchutil.Main(func(ctx context.Context) error { return run(ctx, o) }, "node stopped")
}

func run(ctx context.Context, o options) error {
	disabled, err := parseDisable(o.disable)
	if err != nil {
		return err
	}
	bin, size, image, err := benchutil.NodeInputs(o.bin, o.imageTar)
	if err != nil {
		return err
	}
	var args []string
	if o.disable != "" {
		args = append(args, "--disable", o.disable)
	}
	if o.pprof != "" {
		args = append(args, "--kube-apiserver-arg=profiling=true")
	}
	args = append(args, o.args...)
	srv, err := benchutil.StartServer(benchutil.ServerConfig{
		Bin:    bin,
		Images: map[string][]byte{filepath.Base(o.imageTar): image},
		Args:   args,
		Keep:   o.keep,
	})
	if err != nil {
		return err
	}
	defer srv.Cleanup()

	// Phase 1: from exec, everything at once.
	pctx, cancel := srv.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := benchutil.WaitClient(pctx, srv.Kubeconfig)
	if err != nil {
		return srv.Fail(fmt.Errorf("kubeconfig: %w", err))
	}
	t := startTimes(pctx, client, srv, disabled)
	if err := t.err(); err != nil {
		return srv.Fail(err)
	}
	readyLog := benchutil.LogTime(srv.Log, "skiff server is ready", srv.Began)

	// Phase 2: DNS under load, from the client pod.
	lctx, cancel := srv.WithTimeout(ctx, o.timeout+3*o.dnsDuration)
	defer cancel()
	pod, err := client.CoreV1().Pods(namespace).Get(lctx, clientPod, metav1.GetOptions{})
	if err != nil {
		return srv.Fail(fmt.Errorf("client pod: %w", err))
	}
	loads, err := dnsLoads(lctx, client, o, pod.Status.PodIP, disabled)
	if err != nil {
		return srv.Fail(err)
	}

	// Phase 3: the client pod gone, idle, then memory, and the CPU used over
	// the idle's second half.
	if err := deletePod(lctx, client, clientPod); err != nil {
		return srv.Fail(fmt.Errorf("deleting the client pod: %w", err))
	}
	fmt.Fprintf(os.Stderr, "client pod deleted; idling %s\n", o.idle)
	if err := srv.Idle(ctx, o.idle/2); err != nil {
		return err
	}
	halfway := benchutil.ReadNodeProcs(srv.Cmd.Process.Pid)
	if err := srv.Idle(ctx, o.idle-o.idle/2); err != nil {
		return err
	}
	end := benchutil.ReadNodeProcs(srv.Cmd.Process.Pid)

	benchutil.PrintMachine()
	printBinary(bin, size, o.corednsImage)
	if o.disable != "" {
		fmt.Printf("skiff server --disable %s\n", o.disable)
	} else {
		fmt.Printf("skiff server with every addon on (%s)\n", strings.Join(addons, ", "))
	}
	t.print(readyLog)
	printLoads(loads, o)
	printIdle(o, disabled, halfway, end)
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

// parseDisable checks -disable's names; the server would refuse an
// unknown one too, but the bench must know what not to wait for.
func parseDisable(list string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(addons, name) {
			return nil, fmt.Errorf("-disable: unknown addon %q; the addons are %s", name, strings.Join(addons, ", "))
		}
		out[name] = true
	}
	return out, nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// times are the start-up figures, each from exec; a disabled addon's stay
// zero.
type times struct {
	nodeReady, corednsReady, clientRunning, lookup, metrics time.Duration
	serviceIP                                               string // what the lookup answered
	errs                                                    []error
	mu                                                      sync.Mutex
}

func (t *times) err() error { return errors.Join(t.errs...) }

func (t *times) failed(what string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs = append(t.errs, fmt.Errorf("%s: %w", what, err))
}

// startTimes waits, all at once, for the node Ready, CoreDNS Ready, the
// client pod Running and its lookup of kubernetes.default answered, and
// the metrics API serving the node.
func startTimes(ctx context.Context, c kubernetes.Interface, srv *benchutil.Server, disabled map[string]bool) *times {
	t := &times{}
	var wg sync.WaitGroup
	since := func(d *time.Duration) { *d = time.Since(srv.Began) }
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := benchutil.WaitNodeReady(ctx, c, srv.NodeName, nil); err != nil {
			t.failed("node Ready", err)
			return
		}
		since(&t.nodeReady)
		fmt.Fprintf(os.Stderr, "node Ready %s after exec\n", benchutil.FmtDur(t.nodeReady))
	}()
	if !disabled["coredns"] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := waitCoreDNS(ctx, c); err != nil {
				t.failed("CoreDNS Ready", err)
				return
			}
			since(&t.corednsReady)
			fmt.Fprintf(os.Stderr, "CoreDNS Ready %s after exec\n", benchutil.FmtDur(t.corednsReady))
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		pod := benchutil.PodSpec(clientPod, testImage, map[string]string{"bench": "dns"})
		if err := benchutil.CreateWhenAccepted(ctx, c, namespace, pod); err != nil {
			t.failed("client pod", err)
			return
		}
		p, err := benchutil.WaitPod(ctx, c, namespace, clientPod, func(p *corev1.Pod) bool {
			return benchutil.Running(p) && p.Status.PodIP != ""
		})
		if err != nil {
			t.failed("client pod Running", err)
			return
		}
		since(&t.clientRunning)
		fmt.Fprintf(os.Stderr, "client pod Running %s after exec\n", benchutil.FmtDur(t.clientRunning))
		if disabled["coredns"] {
			return
		}
		ip, err := firstLookup(ctx, c, p.Status.PodIP)
		if err != nil {
			t.failed("a pod's lookup of kubernetes.default", err)
			return
		}
		since(&t.lookup)
		t.serviceIP = ip
		fmt.Fprintf(os.Stderr, "kubernetes.default resolved in a pod %s after exec\n", benchutil.FmtDur(t.lookup))
	}()
	if !disabled["metrics-server"] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := waitMetrics(ctx, c, srv.NodeName); err != nil {
				t.failed("metrics API", err)
				return
			}
			since(&t.metrics)
			fmt.Fprintf(os.Stderr, "metrics API serves the node %s after exec\n", benchutil.FmtDur(t.metrics))
		}()
	}
	wg.Wait()
	return t
}

func (t *times) print(readyLog time.Duration) {
	fmt.Printf("exec → node Ready: %s\n", benchutil.FmtDur(t.nodeReady))
	if readyLog > 0 {
		fmt.Printf("exec → \"skiff server is ready\" logged: %s\n", benchutil.FmtDur(readyLog))
	}
	if t.corednsReady > 0 {
		fmt.Printf("exec → CoreDNS Ready (the kube-system/coredns pod's Ready condition): %s\n", benchutil.FmtDur(t.corednsReady))
	}
	fmt.Printf("exec → client pod Running (%s, preloaded, created as soon as the API accepted it): %s\n", testImage, benchutil.FmtDur(t.clientRunning))
	if t.lookup > 0 {
		verdict := "met"
		if t.lookup > 8*time.Second {
			verdict = "NOT met"
		}
		fmt.Printf("exec → a pod's DNS lookup of kubernetes.default answered (%s): %s (target ≤ 8 s on 2 cores: %s)\n", t.serviceIP, benchutil.FmtDur(t.lookup), verdict)
	}
	if t.metrics > 0 {
		fmt.Printf("exec → metrics API serves the node (GET /apis/metrics.k8s.io/v1beta1/nodes, what kubectl top nodes reads): %s\n", benchutil.FmtDur(t.metrics))
	}
}

// waitCoreDNS polls until a pod of the coredns Deployment is Ready.
func waitCoreDNS(ctx context.Context, c kubernetes.Interface) error {
	return benchutil.WaitPodReady(ctx, c, "kube-system", "k8s-app=kube-dns")
}

// firstLookup asks the pod at podIP to resolve kubernetes.default until it
// answers the kubernetes Service's address, and returns that address. A
// lookup sent before CoreDNS serves may wait seconds for its resolver's
// timeout, so a new one starts every 100 ms whatever the earlier ones do,
// and the first right answer counts.
func firstLookup(ctx context.Context, c kubernetes.Interface, podIP string) (string, error) {
	var want string
	for want == "" {
		svc, err := c.CoreV1().Services(namespace).Get(ctx, "kubernetes", metav1.GetOptions{})
		if err == nil {
			want = svc.Spec.ClusterIP
			break
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{Proxy: nil}}
	u := fmt.Sprintf("http://%s/lookup?type=A&name=kubernetes.default", net.JoinHostPort(podIP, "8080"))
	answered := make(chan struct{}, 1)
	var mu sync.Mutex
	var last string
	inFlight := make(chan struct{}, 200)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case inFlight <- struct{}{}:
			go func() {
				defer func() { <-inFlight }()
				body, err := get(ctx, hc, u)
				if err == nil && slices.Contains(strings.Fields(body), want) {
					select {
					case answered <- struct{}{}:
					default:
					}
					return
				}
				mu.Lock()
				if err != nil {
					last = err.Error()
				} else {
					last = strings.TrimSpace(body)
				}
				mu.Unlock()
			}()
		default:
		}
		select {
		case <-answered:
			return want, nil
		case <-ctx.Done():
			mu.Lock()
			defer mu.Unlock()
			return "", fmt.Errorf("%w (last answer: %s)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// get GETs u and answers its body, or an error with the body when the
// status is not 200.
func get(ctx context.Context, hc *http.Client, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// waitMetrics polls the metrics API until it lists the node.
func waitMetrics(ctx context.Context, c kubernetes.Interface, node string) error {
	var last error
	for {
		raw, err := c.CoreV1().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(ctx)
		if err == nil {
			var list struct {
				Items []struct {
					Metadata struct {
						Name string `json:"name"`
					} `json:"metadata"`
				} `json:"items"`
			}
			if err = json.Unmarshal(raw, &list); err == nil {
				for _, it := range list.Items {
					if it.Metadata.Name == node {
						return nil
					}
				}
				err = fmt.Errorf("node %s not listed yet", node)
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// deletePod deletes the pod and waits until it is gone.
func deletePod(ctx context.Context, c kubernetes.Interface, name string) error {
	one := int64(1)
	pods := c.CoreV1().Pods(namespace)
	if err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &one}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	for {
		if _, err := pods.Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func printBinary(bin string, size int64, corednsImage string) {
	fmt.Printf("binary: %s, %.1f MiB (%.1f MB)", bin, float64(size)/(1<<20), float64(size)/mb)
	if st, err := os.Stat(corednsImage); err == nil {
		fmt.Printf("; of which the CoreDNS image (%s): %.1f MiB", filepath.Base(corednsImage), float64(st.Size())/(1<<20))
	}
	fmt.Println()
}

// load is one DNS load's target and what the test image's /dnsload
// answered.
type load struct {
	label, server, name string
	skipped             string // why it did not run
	res                 loadResult
	err                 error
}

// loadResult is the JSON /dnsload answers (scripts/testimage).
type loadResult struct {
	Seconds    float64        `json:"seconds"`
	Queries    int            `json:"queries"`
	Answered   int            `json:"answered"`
	Errors     int            `json:"errors"`
	QPS        float64        `json:"qps"`
	P50ms      float64        `json:"p50_ms"`
	P99ms      float64        `json:"p99_ms"`
	Maxms      float64        `json:"max_ms"`
	Rcodes     map[string]int `json:"rcodes"`
	FirstError string         `json:"first_error"`
}

// hostResolver is the nameserver pods would reach in the host's place: the
// first non-loopback one of /etc/resolv.conf, else of systemd-resolved's
// upstream file (what skiff gives CoreDNS to forward to), and the file.
func hostResolver() (ip, file string) {
	for _, f := range []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "nameserver" {
				if a := net.ParseIP(fields[1]); a != nil && !a.IsLoopback() {
					fh.Close()
					return a.String(), f
				}
			}
		}
		fh.Close()
	}
	return "", ""
}

// answersFromHost says whether server answers name with an A record when
// asked from the host, for telling "the resolver does not know the name"
// from "a pod cannot reach the resolver".
func answersFromHost(server, name string) string {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, net.JoinHostPort(server, "53"))
	switch {
	case err != nil:
		return "no answer from the host either: " + err.Error()
	case r.Rcode != dns.RcodeSuccess:
		return dns.RcodeToString[r.Rcode] + " from the host too"
	}
	for _, rr := range r.Answer {
		if _, ok := rr.(*dns.A); ok {
			return "answers it from the host"
		}
	}
	return "no A record for it from the host either"
}

// dnsLoads runs the DNS loads from the client pod: CoreDNS with a cluster
// name and with the upstream name, and the host's resolver with the
// upstream name.
func dnsLoads(ctx context.Context, c kubernetes.Interface, o options, podIP string, disabled map[string]bool) ([]load, error) {
	var loads []load
	if disabled["coredns"] {
		loads = append(loads, load{label: "CoreDNS", skipped: "--disable coredns"})
	} else {
		svc, err := c.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("the kube-dns Service: %w", err)
		}
		ip := svc.Spec.ClusterIP
		loads = append(loads,
			load{label: "CoreDNS, cluster name", server: ip, name: clusterName},
			load{label: "CoreDNS, forwarded (then cached)", server: ip, name: o.upstreamName})
	}
	if ip, file := hostResolver(); ip == "" {
		loads = append(loads, load{label: "host's resolver", skipped: "no nameserver a pod can reach in /etc/resolv.conf or /run/systemd/resolve/resolv.conf (only loopback ones)"})
	} else {
		loads = append(loads, load{label: "host's resolver (" + file + ")", server: ip, name: o.upstreamName})
	}
	hc := &http.Client{Timeout: o.dnsDuration + 30*time.Second, Transport: &http.Transport{Proxy: nil}}
	for i := range loads {
		l := &loads[i]
		if l.skipped != "" {
			continue
		}
		q := url.Values{
			"server":      {net.JoinHostPort(l.server, "53")},
			"name":        {l.name},
			"duration":    {o.dnsDuration.String()},
			"concurrency": {fmt.Sprint(o.dnsConcurrency)},
		}
		body, err := get(ctx, hc, fmt.Sprintf("http://%s/dnsload?%s", net.JoinHostPort(podIP, "8080"), q.Encode()))
		if err == nil {
			err = json.Unmarshal([]byte(body), &l.res)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("DNS load against %s: %w", l.server, err)
			}
			l.err = err
			continue
		}
		fmt.Fprintf(os.Stderr, "DNS %s %s: %.0f qps, p99 %.2f ms, %d errors\n", l.server, l.name, l.res.QPS, l.res.P99ms, l.res.Errors)
	}
	return loads, nil
}

func printLoads(loads []load, o options) {
	fmt.Printf("DNS from a pod, UDP A queries, %d workers each sending its next query once its last is answered (1 s timeout), %s per line:\n", o.dnsConcurrency, o.dnsDuration)
	fmt.Printf("  %-34s %-15s %-38s %8s %8s %8s %8s  %s\n", "resolver", "address", "name", "qps", "p50 ms", "p99 ms", "max ms", "errors/queries")
	for _, l := range loads {
		switch {
		case l.skipped != "":
			fmt.Printf("  %-34s not measured: %s\n", l.label, l.skipped)
		case l.err != nil:
			fmt.Printf("  %-34s %-15s %-38s failed: %v\n", l.label, l.server, l.name, l.err)
		default:
			r := l.res
			fmt.Printf("  %-34s %-15s %-38s %8.0f %8.2f %8.2f %8.2f  %d/%d\n", l.label, l.server, l.name, r.QPS, r.P50ms, r.P99ms, r.Maxms, r.Errors, r.Queries)
			if r.Errors > 0 {
				fmt.Printf("    %d errors, rcodes %v, first: %s\n", r.Errors, r.Rcodes, r.FirstError)
			}
			if strings.HasPrefix(l.label, "host's") && r.Answered == 0 {
				fmt.Printf("    no answer from %s reached the pod; the resolver %s\n", l.server, answersFromHost(l.server, l.name))
			}
		}
	}
}

// part is one line of the idle table.
type part struct {
	name     string
	now, was benchutil.Usage
	indent   bool
}

// printIdle prints the idle memory and CPU of each part of the node, and
// the totals the target counts.
func printIdle(o options, disabled map[string]bool, was, now benchutil.NodeProcs) {
	isCoreDNS := func(p benchutil.Proc) bool { return p.Name() == "coredns" }
	isPause := func(p benchutil.Proc) bool { return p.Name() == "pause" }
	isOther := func(p benchutil.Proc) bool { return !isCoreDNS(p) && !isPause(p) }
	// The CPU of a part is what its processes still there at the end used
	// since halfway.
	since := func(ps []benchutil.Proc, before []benchutil.Proc, keep func(benchutil.Proc) bool) part {
		p := part{now: benchutil.Sum(ps, keep)}
		for _, q := range ps {
			if keep != nil && !keep(q) {
				continue
			}
			for _, b := range before {
				if b.PID == q.PID {
					p.was = p.was.Plus(b.Usage)
				}
			}
		}
		return p
	}
	server := part{name: "skiff server", now: now.Server.Usage, was: was.Server.Usage}
	containerd := since(now.Containerd, was.Containerd, nil)
	containerd.name = "containerd"
	parts := []part{server, containerd, {name: "skiff+containerd", now: server.now.Plus(containerd.now), was: server.was.Plus(containerd.was), indent: true}}
	coredns := since(now.Containers, was.Containers, isCoreDNS)
	coredns.name = "CoreDNS (" + count(coredns.now.N, "process", "processes") + ")"
	parts = append(parts, coredns)
	shims := since(now.Shims, was.Shims, nil)
	shims.name = count(shims.now.N, "shim", "shims")
	parts = append(parts, shims)
	for _, s := range now.Shims {
		var names []string
		for _, c := range now.Containers {
			if c.Shim == s.PID && !isPause(c) && !slices.Contains(names, c.Name()) {
				names = append(names, c.Name())
			}
		}
		if len(names) == 0 {
			names = []string{"pause only"}
		}
		one := since([]benchutil.Proc{s}, was.Shims, nil)
		one.name = fmt.Sprintf("shim %d (%s)", s.PID, strings.Join(names, ", "))
		one.indent = true
		parts = append(parts, one)
	}
	pause := since(now.Containers, was.Containers, isPause)
	pause.name = count(pause.now.N, "pause container", "pause containers")
	parts = append(parts, pause)
	other := since(now.Containers, was.Containers, isOther)
	if other.now.N > 0 {
		other.name = count(other.now.N, "other process", "other processes") + " in containers"
		parts = append(parts, other)
	}
	containers := since(now.Containers, was.Containers, nil)
	total := part{name: "total", now: server.now.Plus(containerd.now).Plus(shims.now).Plus(containers.now),
		was: server.was.Plus(containerd.was).Plus(shims.was).Plus(containers.was)}
	parts = append(parts, total)

	second := (o.idle - o.idle/2).Seconds()
	what := "every addon on"
	if len(disabled) > 0 {
		what = "--disable " + o.disable
	}
	fmt.Printf("idle after %s, %s, the client pod deleted (MiB = 2^20 bytes, MB = 10^6):\n", o.idle, what)
	fmt.Printf("  %-34s %8s %8s %8s %8s %8s  %s\n", "", "RSS MiB", "anon", "PSS", "RSS MB", "PSS MB", "CPU cores over the last "+(o.idle-o.idle/2).String())
	for _, p := range parts {
		name := p.name
		if p.indent {
			name = "  " + name
		}
		fmt.Printf("  %-34s %8.1f %8.1f %8.1f %8.1f %8.1f  %.3f\n", name, p.now.RSS, p.now.Anon, p.now.PSS,
			p.now.RSS*(1<<20)/mb, p.now.PSS*(1<<20)/mb, p.now.Cores(p.was, second))
	}
	rssMB, pssMB := total.now.RSS*(1<<20)/mb, total.now.PSS*(1<<20)/mb
	verdict := "met"
	if pssMB > 450 {
		verdict = "NOT met"
	} else if rssMB > 450 {
		verdict = "met by PSS, not by the RSS sum"
	}
	fmt.Printf("total = skiff + containerd + every process in a container and its shim: the RSS sum counts a page shared by several processes (the shims' binary, the pause binary) once per process, the PSS sum once in all\n")
	fmt.Printf("target ≤ 450 MB for skiff + containerd + every addon pod and its shim: RSS sum %.0f MB, PSS sum %.0f MB: %s\n", rssMB, pssMB, verdict)
}

// count is "1 shim", "2 shims".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
