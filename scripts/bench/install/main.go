// Command install measures skiff installed as a service the way a user
// installs it, `curl -sfL <url>/install.sh | sh -`, from the release in
// dist/ (served over HTTP on the host, as a mirror would serve it), on
// Debian machines with systemd as PID 1: containers of the image
// scripts/image-systemd builds, the installer's end-to-end test's
// machines (internal/e2e/systemdmachine). Each run takes a fresh machine
// and measures:
//
//   - the whole install: the download, the first start (which unpacks the
//     launcher's archive) and the wait for the unit to be active, which is
//     when install.sh returns (the unit is Type=notify);
//   - the first start alone, systemd's start of the unit → active, from
//     the unit's own timestamps;
//   - install.sh run again with the same settings (nothing changes);
//   - once the node is Ready and its pods run, `systemctl stop skiff`,
//     then `systemctl start skiff` → the unit active (skiff's READY=1), →
//     the API answering /readyz, → the node Ready as reported by the
//     kubelet of this start.
//
// Run it from the repository root as root, after scripts/release amd64,
// alone on the machine (another skiff, or a test that kills every skiff,
// would change the figures or stop the machines' skiff):
//
//	flock /tmp/skiff-e2e.lock go run ./scripts/bench/install -runs 3
//
// The machines are on Docker's default bridge, named
// skiff-bench-install-<random>-<run>, and removed at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
	"github.com/skiff-k8s/skiff/internal/e2e/systemdmachine"
	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"
)

type options struct {
	dist    string
	runs    int
	airgap  bool
	settle  time.Duration
	timeout time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.dist, "dist", "./dist", "the folder scripts/release wrote")
	flag.IntVar(&o.runs, "runs", 3, "fresh machines, each installed once and its service restarted once")
	flag.BoolVar(&o.airgap, "airgap", true, "install dist's airgap images tarball with the binary (INSTALL_SKIFF_AIRGAP_IMAGES), so that no image is pulled")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "idle time between the node's pods running and the stop, for the first start's work to end")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up on a step that takes longer than this")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected argument %q: every setting is a flag (see -help)\n", flag.Arg(0))
		os.Exit(2)
	}
	if o.runs < 1 || o.settle < 0 || o.timeout <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -runs must be at least 1, -settle not negative and -timeout positive")
		os.Exit(2)
	}
	benchutil.Main(func(ctx context.Context) error { return run(ctx, o) }, "machines removed")
}

// env is what every run shares: the machine image and the release served
// to the machines.
type env struct {
	o       options
	tag     string
	base    string // the HTTP server's URL
	bin     string // dist/skiff
	images  string // dist's airgap images tarball, "" without -airgap
	suffix  string
	timings timings
}

// timings holds each figure's samples, one per run.
type timings struct {
	install, rerun, firstActive  []time.Duration
	active, api, nodeReady, boot []time.Duration
}

func run(ctx context.Context, o options) error {
	if os.Geteuid() != 0 {
		return errors.New("the machines run with every capability and scripts/image-systemd runs debootstrap: run the bench as root")
	}
	if _, err := os.Stat("install.sh"); err != nil {
		return errors.New("run the bench from the repository root (it serves install.sh and runs scripts/image-systemd)")
	}
	if busy := benchutil.RunningSkiffs(); len(busy) > 0 {
		return fmt.Errorf("skiff already runs on this host and would compete for the CPU being measured: stop it first (or run the bench under flock /tmp/skiff-e2e.lock)\n%s", strings.Join(busy, "\n"))
	}
	e := &env{o: o, suffix: dh.Suffix()}
	var err error
	if e.bin, _, err = benchutil.Binary(filepath.Join(o.dist, "skiff")); err != nil {
		return fmt.Errorf("%w (scripts/release amd64 builds it)", err)
	}
	if _, err := os.Stat(filepath.Join(o.dist, "sha256sum-amd64.txt")); err != nil {
		return fmt.Errorf("the release's checksums, which install.sh checks: %w (scripts/release amd64 writes them)", err)
	}
	if o.airgap {
		e.images = filepath.Join(o.dist, "skiff-airgap-images-amd64.tar.zst")
		if _, err := os.Stat(e.images); err != nil {
			return fmt.Errorf("the airgap images: %w (scripts/release amd64 writes them; -airgap=false installs without)", err)
		}
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	var log string
	if e.tag, log, err = systemdmachine.Image(ctx, root); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, log)

	gateway, err := bridgeGateway(ctx)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/install.sh", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, "install.sh") })
	mux.Handle("/dist/", http.StripPrefix("/dist/", http.FileServer(http.Dir(o.dist))))
	base, stop, err := systemdmachine.Serve(gateway, mux)
	if err != nil {
		return err
	}
	defer stop()
	e.base = base

	var distro string
	for i := 1; i <= o.runs; i++ {
		if distro, err = e.run(ctx, i); err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
	}
	return e.print(ctx, distro)
}

// bridgeGateway is the host's address on Docker's default bridge, which
// the machines reach it by.
func bridgeGateway(ctx context.Context) (string, error) {
	gw, err := dh.Docker(ctx, nil, "network", "inspect", "bridge", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}")
	if err == nil && net.ParseIP(gw) != nil {
		return gw, nil
	}
	// Some engines leave the gateway out of the bridge's IPAM settings:
	// it is docker0's address then.
	ifc, ierr := net.InterfaceByName("docker0")
	if ierr != nil {
		return "", fmt.Errorf("finding the host's address on Docker's default bridge: docker network inspect said %q (%v), and docker0: %w", gw, err, ierr)
	}
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "", errors.New("docker0 has no IPv4 address: the machines could not reach the bench's HTTP server")
}

// run is one fresh machine: boot, install, install again, restart. It
// returns the machine's distribution, for the report.
func (e *env) run(ctx context.Context, i int) (distro string, err error) {
	name := fmt.Sprintf("skiff-bench-install-%s-%d", e.suffix, i)
	step := func(what string) (context.Context, context.CancelFunc) {
		fmt.Fprintf(os.Stderr, "run %d: %s\n", i, what)
		return context.WithTimeout(ctx, e.o.timeout)
	}
	sctx, cancel := step("creating and booting " + name)
	defer cancel()
	m, err := systemdmachine.Create(sctx, systemdmachine.Options{Tag: e.tag, Name: name})
	if err != nil {
		return "", err
	}
	defer func() {
		// The run's context may be the one an interrupt cancelled.
		rctx, cancel := context.WithTimeout(context.Background(), 2*dh.CommandTimeout)
		defer cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: the skiff units and their journal:\n%s\n", name, m.SkiffJournal(rctx))
		}
		if rerr := m.Remove(rctx); rerr != nil {
			fmt.Fprintln(os.Stderr, "bench:", rerr)
		}
	}()
	installEnv := []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + e.base + "/dist"}
	if e.images != "" {
		in := "/root/" + filepath.Base(e.images)
		if err := m.Copy(sctx, e.images, in); err != nil {
			return "", err
		}
		installEnv = append(installEnv, "INSTALL_SKIFF_AIRGAP_IMAGES="+in)
	}
	if err := m.Boot(sctx); err != nil {
		return "", err
	}
	_, booted, err := m.WaitBooted(sctx)
	if err != nil {
		return "", err
	}
	e.timings.boot = append(e.timings.boot, booted)
	distro, _ = m.Exec(sctx, "sh", "-c", `. /etc/os-release && echo "$PRETTY_NAME"`)

	sctx, cancel = step("curl | sh -")
	defer cancel()
	out, took, err := m.Install(sctx, e.base, installEnv...)
	if err != nil {
		return "", fmt.Errorf("install.sh: %w\n%s", err, out)
	}
	e.timings.install = append(e.timings.install, took)
	first, err := startToActive(sctx, m)
	if err != nil {
		return "", fmt.Errorf("after the install: %w", err)
	}
	e.timings.firstActive = append(e.timings.firstActive, first)
	fmt.Fprintf(os.Stderr, "run %d: installed in %s (first start → active %s)\n", i, benchutil.FmtDur(took), benchutil.FmtDur(first))

	sctx, cancel = step("curl | sh - again")
	defer cancel()
	out, took, err = m.Install(sctx, e.base, installEnv...)
	if err != nil {
		return "", fmt.Errorf("install.sh again: %w\n%s", err, out)
	}
	if !strings.Contains(out, "nothing changed") {
		return "", fmt.Errorf("install.sh again changed something, so it measures more than a re-run:\n%s", out)
	}
	e.timings.rerun = append(e.timings.rerun, took)

	sctx, cancel = step("waiting for the node's pods, then settling")
	defer cancel()
	client, err := machineClient(sctx, m)
	if err != nil {
		return "", err
	}
	if err := waitNodeReady(sctx, client, name, time.Time{}); err != nil {
		return "", fmt.Errorf("node Ready after the install: %w", err)
	}
	if err := waitPodsRunning(sctx, client); err != nil {
		return "", err
	}
	select {
	case <-sctx.Done():
		return "", sctx.Err()
	case <-time.After(e.o.settle):
	}

	sctx, cancel = step("systemctl stop skiff, systemctl start skiff")
	defer cancel()
	r, err := restart(sctx, m, client)
	if err != nil {
		return "", err
	}
	e.timings.active = append(e.timings.active, r.active)
	e.timings.api = append(e.timings.api, r.api)
	e.timings.nodeReady = append(e.timings.nodeReady, r.nodeReady)
	fmt.Fprintf(os.Stderr, "run %d: systemctl start → active %s, → /readyz %s, → node Ready %s\n", i,
		benchutil.FmtDur(r.active), benchutil.FmtDur(r.api), benchutil.FmtDur(r.nodeReady))
	return distro, nil
}

// unitStart reads when systemd last began starting skiff.service (it left
// the inactive state: the ExecStartPre lines run from then) and when the
// unit became active.
func unitStart(ctx context.Context, m *systemdmachine.Machine) (began, active time.Time, err error) {
	u, err := m.Unit(ctx, "skiff", "ActiveState", "InactiveExitTimestamp", "ActiveEnterTimestamp")
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	if u["ActiveState"] != "active" {
		return time.Time{}, time.Time{}, fmt.Errorf("skiff.service is %s, not active", u["ActiveState"])
	}
	if began, err = systemdmachine.ParseUnitTime(u["InactiveExitTimestamp"]); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("InactiveExitTimestamp %q: %w", u["InactiveExitTimestamp"], err)
	}
	if active, err = systemdmachine.ParseUnitTime(u["ActiveEnterTimestamp"]); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("ActiveEnterTimestamp %q: %w", u["ActiveEnterTimestamp"], err)
	}
	return began, active, nil
}

func startToActive(ctx context.Context, m *systemdmachine.Machine) (time.Duration, error) {
	began, active, err := unitStart(ctx, m)
	return active.Sub(began), err
}

// machineClient is a client from the machine's admin kubeconfig, pointed
// at the machine's address on the bridge (in its serving certificate as
// the advertise address), with short request timeouts for polling.
func machineClient(ctx context.Context, m *systemdmachine.Machine) (kubernetes.Interface, error) {
	ip, err := dh.Docker(ctx, nil, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", m.ID)
	if err != nil || net.ParseIP(ip) == nil {
		return nil, fmt.Errorf("reading %s's address on the bridge: %v: %s", m.Name, err, ip)
	}
	kc, err := m.Exec(ctx, "cat", "/etc/skiff/skiff.yaml")
	if err != nil {
		return nil, fmt.Errorf("reading %s's admin kubeconfig: %w: %s", m.Name, err, kc)
	}
	cfg, err := clientcmd.Load([]byte(kc))
	if err != nil {
		return nil, fmt.Errorf("parsing %s's admin kubeconfig: %w", m.Name, err)
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://" + net.JoinHostPort(ip, "6443")
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("a client from %s's admin kubeconfig: %w", m.Name, err)
	}
	rc.QPS, rc.Burst = 500, 1000
	// A poll that hangs on a server half up would hide the moment it answers.
	rc.Timeout = 2 * time.Second
	return kubernetes.NewForConfig(rc)
}

// waitNodeReady polls until the Node is Ready with a heartbeat at or after
// since (zero: any).
func waitNodeReady(ctx context.Context, c kubernetes.Interface, name string, since time.Time) error {
	last := "no answer"
	for {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
		} else {
			last = "no Ready condition"
			for _, cond := range n.Status.Conditions {
				if cond.Type != corev1.NodeReady {
					continue
				}
				last = fmt.Sprintf("Ready=%s (%s), heartbeat %s", cond.Status, cond.Reason, cond.LastHeartbeatTime.UTC().Format(time.RFC3339))
				if cond.Status == corev1.ConditionTrue && !cond.LastHeartbeatTime.Time.Before(since) {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %s)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitPodsRunning waits until the cluster has pods and every one runs or
// has completed: the addons started, so that the restart measured is an
// installed server's and not the first start's work carrying on.
func waitPodsRunning(ctx context.Context, c kubernetes.Interface) error {
	last := "no pods"
	for {
		pods, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
		} else {
			var waiting []string
			for _, p := range pods.Items {
				if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodSucceeded {
					waiting = append(waiting, fmt.Sprintf("%s/%s %s", p.Namespace, p.Name, p.Status.Phase))
				}
			}
			if len(pods.Items) > 0 && len(waiting) == 0 {
				return nil
			}
			if len(waiting) > 0 {
				last = strings.Join(waiting, ", ")
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the node's pods to run: %w (not yet: %s)", ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// restartTimes are a restart's figures, from systemd beginning the start.
type restartTimes struct{ active, api, nodeReady time.Duration }

// restart stops skiff.service, then starts it while polling the API from
// the host, and returns when the unit became active, the API first
// answered /readyz and the node was first Ready with a heartbeat of this
// start, each after systemd began starting the unit. The machine shares
// the host's clock, so the host's times and the unit's compare.
func restart(ctx context.Context, m *systemdmachine.Machine, c kubernetes.Interface) (restartTimes, error) {
	if out, err := m.Exec(ctx, "systemctl", "stop", "skiff"); err != nil {
		return restartTimes{}, fmt.Errorf("systemctl stop skiff: %w: %s", err, out)
	}
	if state, _ := m.Exec(ctx, "systemctl", "is-active", "skiff"); state != "inactive" {
		return restartTimes{}, fmt.Errorf("skiff.service is %q after systemctl stop", state)
	}
	// The stopped kubelet's last heartbeat is now over a second old: a
	// heartbeat in the start's second or later is the new kubelet's
	// (heartbeats are kept to the second).
	time.Sleep(1100 * time.Millisecond)
	issued := time.Now()
	started := make(chan error, 1)
	go func() {
		out, err := m.Exec(ctx, "systemctl", "start", "skiff")
		if err != nil {
			err = fmt.Errorf("systemctl start skiff: %w: %s", err, out)
		}
		started <- err
	}()

	// A failed start ends the polling at once; a start that returns
	// first (the unit active before /readyz was seen) only stops being
	// waited for: a nil channel is never ready.
	pending := started
	var api time.Time
	for api.IsZero() {
		if b, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err == nil && string(b) == "ok" {
			api = time.Now()
			break
		}
		select {
		case err := <-pending:
			if err != nil {
				return restartTimes{}, err
			}
			pending = nil
		case <-ctx.Done():
			return restartTimes{}, fmt.Errorf("waiting for /readyz: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := waitNodeReady(ctx, c, m.Name, issued.Truncate(time.Second)); err != nil {
		return restartTimes{}, fmt.Errorf("node Ready after systemctl start: %w", err)
	}
	ready := time.Now()
	if pending != nil {
		select {
		case err := <-pending:
			if err != nil {
				return restartTimes{}, err
			}
		case <-ctx.Done():
			return restartTimes{}, fmt.Errorf("waiting for systemctl start to return: %w", ctx.Err())
		}
	}
	began, active, err := unitStart(ctx, m)
	if err != nil {
		return restartTimes{}, err
	}
	if began.Before(issued) {
		return restartTimes{}, fmt.Errorf("skiff.service began its start at %s, before the bench asked for it at %s: something else started it", began.Format(time.RFC3339Nano), issued.Format(time.RFC3339Nano))
	}
	return restartTimes{active: active.Sub(began), api: api.Sub(began), nodeReady: ready.Sub(began)}, nil
}

func (e *env) print(ctx context.Context, distro string) error {
	docker, _ := dh.Docker(ctx, nil, "version", "-f", "{{.Server.Version}}")
	cgroup, _ := dh.Docker(ctx, nil, "info", "-f", "{{.CgroupVersion}}")
	st, err := os.Stat(e.bin)
	if err != nil {
		return err
	}
	airgap := "without the airgap images"
	if e.images != "" {
		airgap = "with " + filepath.Base(e.images)
	}
	t := e.timings
	benchutil.PrintMachine()
	fmt.Printf("docker %s, cgroup v%s; machines: %s (%s), systemd booted in %s\n", docker, cgroup, e.tag, distro, benchutil.FmtSpread(t.boot, "runs"))
	fmt.Printf("installed: %s, %.1f MB, %s, over HTTP from the host\n", e.bin, float64(st.Size())/1e6, airgap)
	fmt.Printf("curl | sh -, fresh machine (download, first start):   %s\n", benchutil.FmtSpread(t.install, "runs"))
	fmt.Printf("  of which the first start, systemd start → active:   %s\n", benchutil.FmtSpread(t.firstActive, "runs"))
	fmt.Printf("curl | sh - again (nothing changed):                  %s\n", benchutil.FmtSpread(t.rerun, "runs"))
	fmt.Printf("after systemctl stop, systemctl start skiff →\n")
	fmt.Printf("  unit active (skiff's READY=1):                      %s\n", benchutil.FmtSpread(t.active, "runs"))
	fmt.Printf("  API answering /readyz:                              %s\n", benchutil.FmtSpread(t.api, "runs"))
	fmt.Printf("  node Ready (heartbeat of this start's kubelet):     %s\n", benchutil.FmtSpread(t.nodeReady, "runs"))
	return nil
}
