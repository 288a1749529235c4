package main

import (
	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"

	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

const (
	whoami      = "bench-whoami"
	whoamiHost  = "whoami.local"
	whoamiNS    = "default"
	traefikNS   = "kube-system"
	traefikPods = "app.kubernetes.io/name=traefik"
)

// ingressTimes are one fresh start's figures, each from exec.
type ingressTimes struct {
	nodeReady, traefikDeployed, traefikReady, answered time.Duration
}

func (t ingressTimes) String() string {
	return fmt.Sprintf("node Ready %s, Traefik's HelmChart deployed %s, its pod Ready %s, the Ingress answered %s after exec",
		benchutil.FmtDur(t.nodeReady), benchutil.FmtDur(t.traefikDeployed), benchutil.FmtDur(t.traefikReady), benchutil.FmtDur(t.answered))
}

// ingressRun starts a server on a fresh data dir and times it to Traefik
// answering an Ingress; on the last run it then idles and reads Traefik's
// memory.
func ingressRun(ctx context.Context, o options, cfg benchutil.ServerConfig, last bool) (ingressTimes, *traefikMemory, error) {
	var t ingressTimes
	srv, err := benchutil.StartServer(cfg)
	if err != nil {
		return t, nil, err
	}
	defer srv.Cleanup()
	pctx, cancel := srv.WithTimeout(ctx, o.timeout)
	defer cancel()
	c, dyn, err := clients(pctx, srv.Kubeconfig)
	if err != nil {
		return t, nil, srv.Fail(err)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	failed := func(what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Errorf("%s: %w", what, err))
	}
	since := func(d *time.Duration) { *d = time.Since(srv.Began) }
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := benchutil.WaitNodeReady(pctx, c, srv.NodeName, nil); err != nil {
			failed("node Ready", err)
			return
		}
		since(&t.nodeReady)
	}()
	go func() {
		defer wg.Done()
		if _, err := waitDeployed(pctx, dyn, traefikNS, "traefik", 0); err != nil {
			failed("Traefik's HelmChart deployed", err)
			return
		}
		since(&t.traefikDeployed)
	}()
	go func() {
		defer wg.Done()
		if err := waitTraefikReady(pctx, c); err != nil {
			failed("Traefik's pod Ready", err)
			return
		}
		since(&t.traefikReady)
	}()
	err = func() error {
		if err := createWhoami(pctx, c); err != nil {
			return fmt.Errorf("creating the Deployment, Service and Ingress: %w", err)
		}
		ip, err := nodeIP(pctx, c, srv.NodeName)
		if err != nil {
			return fmt.Errorf("the node's address: %w", err)
		}
		if err := waitAnswer(pctx, ip); err != nil {
			return fmt.Errorf("the Ingress on %s:80: %w", ip, err)
		}
		since(&t.answered)
		return nil
	}()
	if err != nil {
		failed("Traefik answering", err)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return t, nil, srv.Fail(err)
	}
	if !last {
		srv.Stop()
		return t, nil, nil
	}
	fmt.Fprintf(os.Stderr, "idling %s before reading Traefik's memory\n", o.idle)
	if err := srv.Idle(ctx, o.idle); err != nil {
		return t, nil, err
	}
	mem := readTraefik(srv.Cmd.Process.Pid)
	srv.Stop()
	return t, mem, nil
}

// createWhoami creates the test image's Deployment, its Service and an
// Ingress for whoami.local that names no class, each as soon as the API
// accepts it.
func createWhoami(ctx context.Context, c kubernetes.Interface) error {
	labels := map[string]string{"app": whoami}
	one, zero := int32(1), int64(0)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: whoami},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &zero,
					Containers:                    []corev1.Container{{Name: "http", Image: testImage, ImagePullPolicy: corev1.PullIfNotPresent}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: whoami},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	prefix := netv1.PathTypePrefix
	ing := &netv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: whoami},
		Spec: netv1.IngressSpec{Rules: []netv1.IngressRule{{
			Host: whoamiHost,
			IngressRuleValue: netv1.IngressRuleValue{HTTP: &netv1.HTTPIngressRuleValue{Paths: []netv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: netv1.IngressBackend{Service: &netv1.IngressServiceBackend{Name: whoami, Port: netv1.ServiceBackendPort{Number: 80}}},
			}}}},
		}}},
	}
	for _, create := range []func() error{
		func() error {
			_, err := c.AppsV1().Deployments(whoamiNS).Create(ctx, dep, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := c.CoreV1().Services(whoamiNS).Create(ctx, svc, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := c.NetworkingV1().Ingresses(whoamiNS).Create(ctx, ing, metav1.CreateOptions{})
			return err
		},
	} {
		if err := retry(ctx, create); err != nil {
			return err
		}
	}
	return nil
}

// retry calls create until the API accepts it (or says it exists).
func retry(ctx context.Context, create func() error) error {
	for {
		err := create()
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// nodeIP waits for the Node's InternalIP, which ServiceLB gives Traefik's
// Service.
func nodeIP(ctx context.Context, c kubernetes.Interface, name string) (string, error) {
	for {
		if n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil {
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP && net.ParseIP(a.Address).To4() != nil {
					return a.Address, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitAnswer asks http://ip:80/ with Host whoami.local every 50 ms until
// a whoami pod answers with its name.
func waitAnswer(ctx context.Context, ip string) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	url := "http://" + net.JoinHostPort(ip, "80") + "/"
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Host = whoamiHost
		resp, err := hc.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			body := strings.TrimSpace(string(b))
			if resp.StatusCode == http.StatusOK && strings.HasPrefix(body, whoami+"-") {
				return nil
			}
			last = fmt.Sprintf("HTTP %d %q", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %s)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitTraefikReady polls until a Traefik pod is Ready.
func waitTraefikReady(ctx context.Context, c kubernetes.Interface) error {
	return benchutil.WaitPodReady(ctx, c, traefikNS, traefikPods)
}

func printIngress(runs []ingressTimes) {
	pick := func(f func(ingressTimes) time.Duration) []time.Duration {
		var ds []time.Duration
		for _, r := range runs {
			ds = append(ds, f(r))
		}
		return ds
	}
	fmt.Printf("fresh data dir, every addon on; a Deployment of %s, its Service and an Ingress for %s (no class) created as soon as the API accepted them:\n", testImage, whoamiHost)
	fmt.Printf("  exec → node Ready:                          %s\n", benchutil.FmtSpread(pick(func(r ingressTimes) time.Duration { return r.nodeReady }), "runs"))
	fmt.Printf("  exec → Traefik's HelmChart deployed:        %s\n", benchutil.FmtSpread(pick(func(r ingressTimes) time.Duration { return r.traefikDeployed }), "runs"))
	fmt.Printf("  exec → Traefik's pod Ready:                 %s\n", benchutil.FmtSpread(pick(func(r ingressTimes) time.Duration { return r.traefikReady }), "runs"))
	answered := pick(func(r ingressTimes) time.Duration { return r.answered })
	med, _, hi := benchutil.Spread(answered)
	verdict := "met"
	if hi > 15*time.Second {
		verdict = "NOT met by every run"
		if med > 15*time.Second {
			verdict = "NOT met"
		}
	}
	fmt.Printf("  exec → the pod answers via Traefik on :80:  %s (target ≤ 15 s on 2 cores: %s)\n", benchutil.FmtSpread(answered, "runs"), verdict)
}

// traefikMemory is Traefik's container process and its shim, idle.
type traefikMemory struct {
	traefik, shim, pause, server benchutil.Usage
}

func readTraefik(serverPID int) *traefikMemory {
	procs := benchutil.ReadNodeProcs(serverPID)
	m := &traefikMemory{server: procs.Server.Usage}
	shims := map[int]bool{}
	for _, p := range procs.Containers {
		if p.Name() == "traefik" {
			m.traefik = m.traefik.Plus(p.Usage)
			shims[p.Shim] = true
		}
	}
	for _, p := range procs.Containers {
		if shims[p.Shim] && p.Name() == "pause" {
			m.pause = m.pause.Plus(p.Usage)
		}
	}
	for _, s := range procs.Shims {
		if shims[s.PID] {
			m.shim = m.shim.Plus(s.Usage)
		}
	}
	return m
}

func (m *traefikMemory) print(idle time.Duration) {
	if m == nil || m.traefik.N == 0 {
		fmt.Println("Traefik's memory: no traefik process found under the node's shims")
		return
	}
	fmt.Printf("idle after %s with Traefik serving the Ingress (MiB = 2^20 bytes):\n", idle)
	fmt.Printf("  %-28s %8s %8s %8s %8s\n", "", "RSS MiB", "anon", "PSS", "RSS MB")
	for _, l := range []struct {
		name string
		u    benchutil.Usage
	}{
		{"traefik (its process)", m.traefik},
		{"its shim", m.shim},
		{"its pause container", m.pause},
		{"together", m.traefik.Plus(m.shim).Plus(m.pause)},
		{"skiff server (for scale)", m.server},
	} {
		fmt.Printf("  %-28s %8.1f %8.1f %8.1f %8.1f\n", l.name, l.u.RSS, l.u.Anon, l.u.PSS, l.u.RSS*(1<<20)/mb)
	}
}

// clients are a clientset and a dynamic client from the admin kubeconfig.
func clients(ctx context.Context, kubeconfig string) (kubernetes.Interface, dynamic.Interface, error) {
	c, err := benchutil.WaitClient(ctx, kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig: %w", err)
	}
	dyn, err := dynamicClient(kubeconfig)
	return c, dyn, err
}
