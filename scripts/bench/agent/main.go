// Command agent measures multi-node skiff with node containers of the
// project's image (scripts/image), as the end-to-end tests run them:
//
//   - join time: from `docker start` of an agent container (the agent's
//     exec, give or take the entrypoint's few mounts) to its Node object
//     and to its Node Ready, against a server that is already up; -agents
//     agents join one after another;
//   - TCP request/response latency and throughput between two pods on
//     different nodes (the vxlan overlay, or whatever -flannel-backend
//     says), between the two node containers themselves (the underlay the
//     overlay rides on: a user-defined Docker network), and between two
//     plain containers on the host's default Docker bridge; and the ratio of
//     the pods' figures to the plain bridge's.
//
// Every path runs the same program, netperf (./netperf, built here and
// packed as the image docker.io/skiff/bench-net:v1 with scripts/ociimage),
// so only the path differs. The paths are measured in turn, -rounds times,
// and the median round is printed.
//
// Run it from the repository root as root (or a docker user) after
// scripts/build and scripts/image:
//
//	go run ./scripts/bench/agent -agents 2 -rounds 3 -duration 10s
//
// It creates a network and containers named skiff-bench-<random> and
// removes them, and the bench image, at the end.
package main

import (
	"github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	benchImage  = "docker.io/skiff/bench-net:v1"
	netperfPort = "5201"
)

type options struct {
	image    string
	agents   int
	rounds   int
	pings    int
	duration time.Duration
	streams  int
	backend  string
	timeout  time.Duration
	keep     bool
}

func main() {
	var o options
	flag.StringVar(&o.image, "image", envOr("SKIFF_IMAGE", "skiff/node:dev"), "the node image (scripts/image builds it)")
	flag.IntVar(&o.agents, "agents", 1, "agents to join, one after another")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of the network measurements; the median is printed")
	flag.IntVar(&o.pings, "pings", 2000, "request/response round trips per measurement")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long each throughput measurement sends")
	flag.IntVar(&o.streams, "streams", 1, "parallel TCP streams for the throughput")
	flag.StringVar(&o.backend, "flannel-backend", "", "pass --flannel-backend to the server (default: skiff's, vxlan)")
	flag.DurationVar(&o.timeout, "timeout", 4*time.Minute, "give up on a phase that takes longer than this")
	flag.BoolVar(&o.keep, "keep", false, "leave the containers and the network for a look (remove them with docker rm -f -v and docker network rm)")
	flag.Parse()

	b := &bench{o: o, name: fmt.Sprintf("skiff-bench-%06x", rand.Uint32()&0xffffff)}
	benchutil.Main(func(ctx context.Context) error {
		defer b.cleanup()
		return b.run(ctx)
	}, "containers removed")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type bench struct {
	o       options
	name    string // prefix of every container and the network
	tmp     string
	prefix  string // the network's "172.29.N."
	network bool
	created []string // containers to remove
	loaded  bool     // benchImage loaded into the host's engine

	server   string // container name
	serverIP string
	client   kubernetes.Interface
}

func (b *bench) run(ctx context.Context) error {
	if b.o.agents < 1 || b.o.rounds < 1 || b.o.pings < 1 || b.o.streams < 1 {
		return errors.New("-agents, -rounds, -pings and -streams must be at least 1")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return errors.New("docker is not installed")
	}
	if _, err := os.Stat("scripts/ociimage/main.go"); err != nil {
		return errors.New("run the bench from the repository root (it builds its image with scripts/ociimage)")
	}
	size, err := docker(ctx, "image", "inspect", "-f", "{{.Size}}", b.o.image)
	if err != nil {
		return fmt.Errorf("the node image %s is missing: run scripts/image (%s)", b.o.image, size)
	}
	// An image older than bin/skiff measures yesterday's skiff.
	if created, err := docker(ctx, "image", "inspect", "-f", "{{.Created}}", b.o.image); err == nil {
		t, perr := time.Parse(time.RFC3339Nano, created)
		if st, serr := os.Stat("bin/skiff"); perr == nil && serr == nil && st.ModTime().After(t) {
			fmt.Fprintf(os.Stderr, "bench: warning: %s is older than bin/skiff: run scripts/image to measure the current build\n", b.o.image)
		}
	}
	if b.tmp, err = os.MkdirTemp("", "skiff-bench-agent"); err != nil {
		return err
	}
	imageTar, err := b.buildNetperf(ctx)
	if err != nil {
		return err
	}
	if err := b.createNetwork(ctx); err != nil {
		return err
	}

	// The server, with the bench image preloaded (its node runs a pod).
	pctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	b.server = b.name + "-srv"
	b.serverIP = b.prefix + "2"
	args := []string{"server", "--node-name", b.server, "--tls-san", b.serverIP}
	if b.o.backend != "" {
		args = append(args, "--flannel-backend", b.o.backend)
	}
	if err := b.createNode(pctx, b.server, b.serverIP, nil, args, imageTar); err != nil {
		return err
	}
	srvStart := time.Now()
	if out, err := docker(pctx, "start", b.server); err != nil {
		return fmt.Errorf("starting the server: %v: %s", err, out)
	}
	if err := b.waitAPI(pctx); err != nil {
		return b.withLog(b.server, fmt.Errorf("server API: %w", err))
	}
	fmt.Fprintf(os.Stderr, "server API ready %s after docker start\n", benchutil.FmtDur(time.Since(srvStart)))
	token, err := docker(pctx, "exec", b.server, "cat", "/var/lib/skiff/server/token")
	if err != nil {
		return fmt.Errorf("reading the server token: %v: %s", err, token)
	}
	if err := benchutil.WaitNodeReady(pctx, b.client, b.server, nil); err != nil {
		return b.withLog(b.server, fmt.Errorf("server node Ready: %w", err))
	}

	// Joins, one after another, each against an idle cluster.
	type join struct{ registered, ready time.Duration }
	var joins []join
	var agents []string
	for i := 1; i <= b.o.agents; i++ {
		name := fmt.Sprintf("%s-%d", b.name, i)
		args := []string{"agent", "--server", "https://" + b.serverIP + ":6443", "--token", token}
		if err := b.createNode(pctx, name, fmt.Sprintf("%s%d", b.prefix, 2+i), nil, args, imageTar); err != nil {
			return err
		}
		var registered time.Duration
		start := time.Now()
		if out, err := docker(pctx, "start", name); err != nil {
			return fmt.Errorf("starting %s: %v: %s", name, err, out)
		}
		err := benchutil.WaitNodeReady(pctx, b.client, name, func() {
			if registered == 0 {
				registered = time.Since(start)
			}
		})
		if err != nil {
			return b.withLog(name, fmt.Errorf("%s Ready: %w", name, err))
		}
		joins = append(joins, join{registered, time.Since(start)})
		agents = append(agents, name)
		fmt.Fprintf(os.Stderr, "%s: Node created %s, Ready %s after docker start\n", name, benchutil.FmtDur(registered), benchutil.FmtDur(time.Since(start)))
	}
	agentMem, _ := docker(pctx, "stats", "--no-stream", "--format", "{{.MemUsage}}", agents[0])
	serverMem, _ := docker(pctx, "stats", "--no-stream", "--format", "{{.MemUsage}}", b.server)

	// The three paths.
	paths, err := b.preparePaths(pctx, agents[0], imageTar)
	if err != nil {
		return err
	}
	results := make([][]result, len(paths))
	for round := range b.o.rounds {
		for i, p := range paths {
			rctx, cancel := context.WithTimeout(ctx, b.o.duration*time.Duration(b.o.streams+1)+2*time.Minute)
			r, err := b.measure(rctx, p)
			cancel()
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round+1, p.label, err)
			}
			fmt.Fprintf(os.Stderr, "round %d, %s: p50 %.0f µs, %.2f Gbit/s\n", round+1, p.label, r.P50, r.Gbps)
			results[i] = append(results[i], r)
		}
	}

	benchutil.PrintMachine()
	dockerVersion, _ := docker(ctx, "version", "-f", "{{.Server.Version}}")
	driver, _ := docker(ctx, "info", "-f", "{{.Driver}}, cgroup v{{.CgroupVersion}}")
	var sizeMB int64
	fmt.Sscan(size, &sizeMB)
	fmt.Printf("docker %s (%s); node image %s, %d MiB\n", dockerVersion, driver, b.o.image, sizeMB>>20)
	for i, j := range joins {
		fmt.Printf("agent %d join, docker start → Node created: %s, → Node Ready: %s\n", i+1, benchutil.FmtDur(j.registered), benchutil.FmtDur(j.ready))
	}
	fmt.Printf("memory (docker stats, after the joins): server container %s, agent container %s\n", serverMem, agentMem)
	fmt.Printf("TCP, median of %d rounds; latency: %d one-byte round trips on one connection; throughput: %d stream(s) for %s\n",
		b.o.rounds, b.o.pings, b.o.streams, b.o.duration)
	fmt.Printf("  %-44s %9s %9s %9s %12s\n", "path", "p50 µs", "p99 µs", "mean µs", "Gbit/s")
	medians := make([]result, len(paths))
	for i, p := range paths {
		medians[i] = median(results[i])
		m := medians[i]
		fmt.Printf("  %-44s %9.0f %9.0f %9.0f %12.2f\n", p.label, m.P50, m.P99, m.Mean, m.Gbps)
	}
	pod, bridge := medians[0], medians[len(paths)-1]
	fmt.Printf("pod-to-pod across nodes / plain docker bridge: latency p50 ×%.2f, throughput ×%.2f\n", pod.P50/bridge.P50, pod.Gbps/bridge.Gbps)
	return nil
}

// buildNetperf builds ./netperf static and packs it as benchImage.
func (b *bench) buildNetperf(ctx context.Context) (string, error) {
	bin := filepath.Join(b.tmp, "netperf")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./scripts/bench/agent/netperf")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building netperf: %v: %s", err, out)
	}
	tar := filepath.Join(b.tmp, "skiff-bench-net.tar")
	cmd = exec.CommandContext(ctx, "go", "run", "./scripts/ociimage", "-name", benchImage, "-o", tar,
		"-entrypoint", "/netperf", "-cmd", "server", "-expose", netperfPort+"/tcp", "-file", "/netperf="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("packing %s: %v: %s", benchImage, err, out)
	}
	return tar, nil
}

// createNetwork makes a user-defined network on a free 172.29.N.0/24, for
// fixed node addresses.
func (b *bench) createNetwork(ctx context.Context) error {
	var out string
	var err error
	for range 20 {
		n := 16 + rand.IntN(239)
		prefix := fmt.Sprintf("172.29.%d.", n)
		out, err = docker(ctx, "network", "create", "--subnet", prefix+"0/24", "--ip-range", prefix+"128/25", "--gateway", prefix+"1", b.name)
		if err == nil {
			b.prefix, b.network = prefix, true
			return nil
		}
		if !strings.Contains(out, "overlap") {
			break
		}
	}
	return fmt.Errorf("docker network create: %v: %s", err, out)
}

// createNode creates a node container with imageTar in its airgap folder.
func (b *bench) createNode(ctx context.Context, name, ip string, env, args []string, imageTar string) error {
	cargs := []string{"create", "--name", name, "--hostname", name, "--network", b.name, "--ip", ip}
	for _, e := range env {
		cargs = append(cargs, "-e", e)
	}
	cargs = append(cargs, dockerharness.NodeFlags...)
	cargs = append(cargs, b.o.image)
	cargs = append(cargs, args...)
	if out, err := docker(ctx, cargs...); err != nil {
		return fmt.Errorf("creating %s: %v: %s", name, err, out)
	}
	b.created = append(b.created, name)
	// docker cp into a created container: a folder holding agent/images/.
	dir := filepath.Join(b.tmp, "preload", "agent", "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(dir, filepath.Base(imageTar))
	if _, err := os.Stat(dst); err != nil {
		if err := os.Link(imageTar, dst); err != nil {
			return err
		}
	}
	if out, err := docker(ctx, "cp", filepath.Join(b.tmp, "preload")+"/.", name+":/var/lib/skiff"); err != nil {
		return fmt.Errorf("preloading %s: %v: %s", name, err, out)
	}
	return nil
}

// waitAPI waits for /readyz, then makes a client from the admin
// kubeconfig, pointed at the server's address on the network.
func (b *bench) waitAPI(ctx context.Context) error {
	for {
		out, err := docker(ctx, "exec", b.server, "kubectl", "get", "--raw", "/readyz")
		if err == nil && out == "ok" {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last answer: %s)", ctx.Err(), out)
		case <-time.After(200 * time.Millisecond):
		}
	}
	kc, err := docker(ctx, "exec", b.server, "cat", "/etc/skiff/skiff.yaml")
	if err != nil {
		return fmt.Errorf("reading the admin kubeconfig: %v: %s", err, kc)
	}
	cfg, err := clientcmd.Load([]byte(kc))
	if err != nil {
		return err
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://" + b.serverIP + ":6443"
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = 100, 200
	b.client, err = kubernetes.NewForConfig(rc)
	return err
}

// path is one way from a netperf client to a netperf server.
type path struct {
	label  string
	client []string // docker exec ... up to the netperf command
	addr   string   // the server's HOST:PORT
}

// preparePaths starts the netperf servers and returns the paths, pods
// first and the plain bridge last.
func (b *bench) preparePaths(ctx context.Context, agent, imageTar string) ([]path, error) {
	// Pods: the server on the agent, the client on the server's node.
	pods := b.client.CoreV1().Pods("default")
	for _, p := range []struct{ name, node string }{{"netperf-server", agent}, {"netperf-client", b.server}} {
		zero := int64(0)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name},
			Spec: corev1.PodSpec{
				NodeName:                      p.node,
				TerminationGracePeriodSeconds: &zero,
				Containers: []corev1.Container{{
					Name: "netperf", Image: benchImage, ImagePullPolicy: corev1.PullNever,
					Command: []string{"/netperf", "server"},
				}},
			},
		}
		for {
			_, err := pods.Create(ctx, pod, metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				break
			}
			// The default ServiceAccount comes some seconds after the API.
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("creating pod %s: %w (%v)", p.name, ctx.Err(), err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	var serverPodIP string
	for _, name := range []string{"netperf-server", "netperf-client"} {
		for {
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				if name == "netperf-server" {
					serverPodIP = p.Status.PodIP
				}
				break
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("pod %s Running: %w", name, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}

	// The node containers themselves: netperf copied into both (docker cp
	// writes the image layer, not the /tmp tmpfs).
	bin := filepath.Join(b.tmp, "netperf")
	for _, n := range []string{agent, b.server} {
		if out, err := docker(ctx, "cp", bin, n+":/usr/local/bin/netperf"); err != nil {
			return nil, fmt.Errorf("copying netperf into %s: %v: %s", n, err, out)
		}
	}
	if out, err := docker(ctx, "exec", "-d", agent, "/usr/local/bin/netperf", "server", "-listen", ":"+netperfPort); err != nil {
		return nil, fmt.Errorf("netperf server in %s: %v: %s", agent, err, out)
	}
	agentIP, err := docker(ctx, "inspect", "-f", fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}`, b.name), agent)
	if err != nil {
		return nil, fmt.Errorf("the agent's address: %v: %s", err, agentIP)
	}

	// Two plain containers on the default bridge.
	if out, err := docker(ctx, "load", "-i", imageTar); err != nil {
		return nil, fmt.Errorf("docker load %s: %v: %s", imageTar, err, out)
	}
	b.loaded = true
	var bridgeIP string
	for _, role := range []string{"np-server", "np-client"} {
		name := b.name + "-" + role
		if out, err := docker(ctx, "run", "-d", "--name", name, benchImage, "server", "-listen", ":"+netperfPort); err != nil {
			return nil, fmt.Errorf("running %s: %v: %s", name, err, out)
		}
		b.created = append(b.created, name)
		if role == "np-server" {
			if bridgeIP, err = docker(ctx, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name); err != nil || bridgeIP == "" {
				return nil, fmt.Errorf("the address of %s: %v: %s", name, err, bridgeIP)
			}
		}
	}
	backend := b.o.backend
	if backend == "" {
		backend = "vxlan"
	}
	return []path{
		{label: "pod → pod on another node (" + backend + ")", client: []string{"exec", b.server, "kubectl", "exec", "netperf-client", "--", "/netperf"}, addr: serverPodIP + ":" + netperfPort},
		{label: "node container → node container (network)", client: []string{"exec", b.server, "/usr/local/bin/netperf"}, addr: agentIP + ":" + netperfPort},
		{label: "plain container → container (docker0)", client: []string{"exec", b.name + "-np-client", "/netperf"}, addr: bridgeIP + ":" + netperfPort},
	}, nil
}

type result struct {
	DialMicros float64 `json:"dial_us"`
	P50        float64 `json:"rtt_p50_us"`
	P90        float64 `json:"rtt_p90_us"`
	P99        float64 `json:"rtt_p99_us"`
	Mean       float64 `json:"rtt_mean_us"`
	Gbps       float64 `json:"gbit_per_s"`
}

func (b *bench) measure(ctx context.Context, p path) (result, error) {
	args := append(slices.Clone(p.client), "client", "-addr", p.addr,
		"-pings", fmt.Sprint(b.o.pings), "-duration", b.o.duration.String(), "-streams", fmt.Sprint(b.o.streams))
	out, err := docker(ctx, args...)
	if err != nil {
		return result{}, fmt.Errorf("%v: %s", err, out)
	}
	var r result
	lines := strings.Split(out, "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return result{}, fmt.Errorf("netperf said %q: %w", out, err)
	}
	return r, nil
}

// median is the round with the median throughput, and the median latency
// figures of all rounds.
func median(rs []result) result {
	mid := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		DialMicros: mid(func(r result) float64 { return r.DialMicros }),
		P50:        mid(func(r result) float64 { return r.P50 }),
		P90:        mid(func(r result) float64 { return r.P90 }),
		P99:        mid(func(r result) float64 { return r.P99 }),
		Mean:       mid(func(r result) float64 { return r.Mean }),
		Gbps:       mid(func(r result) float64 { return r.Gbps }),
	}
}

// withLog adds the tail of a container's log to err.
func (b *bench) withLog(name string, err error) error {
	logs, _ := exec.Command("docker", "logs", "--tail", "25", name).CombinedOutput()
	return fmt.Errorf("%w\nlast lines of %s's log:\n  %s", err, name, strings.ReplaceAll(strings.TrimSpace(string(logs)), "\n", "\n  "))
}

func (b *bench) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if b.o.keep {
		fmt.Fprintf(os.Stderr, "kept containers %v and network %s\n", b.created, b.name)
	} else {
		for _, c := range b.created {
			if out, err := docker(ctx, "rm", "-f", "-v", c); err != nil {
				fmt.Fprintf(os.Stderr, "bench: removing %s: %v: %s\n", c, err, out)
			}
		}
		if b.network {
			if out, err := docker(ctx, "network", "rm", b.name); err != nil {
				fmt.Fprintf(os.Stderr, "bench: removing network %s: %v: %s\n", b.name, err, out)
			}
		}
	}
	if b.loaded && !b.o.keep {
		docker(ctx, "rmi", benchImage)
	}
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

// docker runs docker and returns its trimmed output (with stderr on failure).
func docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return strings.TrimSpace(stdout.String() + "\n" + stderr.String()), err
	}
	return strings.TrimSpace(stdout.String()), nil
}
