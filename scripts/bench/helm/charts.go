package main

import (
	"github.com/skiff-k8s/skiff/internal/e2e/harness"
	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"

	"context"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

var helmCharts = schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmcharts"}

const (
	chartsNS  = "kube-system"
	releaseNS = "bench-helm"
)

// tenObjects is a chart of 10 objects without pods, named after the
// release: 4 ConfigMaps, a Secret, 2 Services (with no pods behind them),
// a ServiceAccount, a Role and its RoleBinding. Its value word goes into
// the ConfigMaps, so that new values change them.
func tenObjects() map[string]string {
	files := map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: bench-ten\nversion: 1.0.0\nappVersion: \"1.0\"\n",
		"values.yaml": "word: first\n",
	}
	var b strings.Builder
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-%d
data:
  word: {{ .Values.word | quote }}
  index: "%d"
`, i, i)
	}
	files["templates/configmaps.yaml"] = b.String()
	files["templates/secret.yaml"] = `apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}
stringData:
  token: {{ printf "%s-%s" .Release.Name .Values.word | sha256sum | quote }}
`
	b.Reset()
	for _, port := range []int{80, 443} {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-%d
spec:
  selector:
    app: {{ .Release.Name }}
  ports:
  - port: %d
    targetPort: 8080
`, port, port)
	}
	files["templates/services.yaml"] = b.String()
	files["templates/rbac.yaml"] = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ .Release.Name }}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ .Release.Name }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ .Release.Name }}
subjects:
- kind: ServiceAccount
  name: {{ .Release.Name }}
`
	return files
}

func dynamicClient(kubeconfig string) (dynamic.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	return dynamic.NewForConfig(cfg)
}

// helmChart is a HelmChart of the 10-object chart with valuesContent.
func helmChart(name, content, values string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "helm.cattle.io/v1",
		"kind":       "HelmChart",
		"metadata":   map[string]any{"name": name, "namespace": chartsNS},
		"spec": map[string]any{
			"chartContent":    content,
			"targetNamespace": releaseNS,
			"createNamespace": true,
			"valuesContent":   values,
		},
	}}
}

// waitDeployed polls the HelmChart every 10 ms until its Deployed
// condition is true for its current generation, at revision rev (any
// when 0), and returns the status's revision.
func waitDeployed(ctx context.Context, dyn dynamic.Interface, ns, name string, rev int64) (int64, error) {
	var last string
	for {
		u, err := dyn.Resource(helmCharts).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			got, _, _ := unstructured.NestedInt64(u.Object, "status", "release", "revision")
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] != "Deployed" {
					continue
				}
				last = fmt.Sprintf("Deployed %v: %v", m["status"], m["message"])
				gen, _ := m["observedGeneration"].(int64)
				if m["status"] == "True" && gen == u.GetGeneration() && (rev == 0 || got == rev) {
					return got, nil
				}
			}
			if f := failedMessage(conds); f != "" {
				last = "Failed: " + f
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w (last: %s)", ctx.Err(), last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func failedMessage(conds []any) string {
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == "Failed" && m["status"] == "True" {
			return fmt.Sprint(m["message"])
		}
	}
	return ""
}

// install creates a HelmChart, as soon as the API accepts it, and times it
// from the accepted create to its release deployed.
func install(ctx context.Context, dyn dynamic.Interface, name, content string) (time.Duration, error) {
	var begin time.Time
	err := retry(ctx, func() error {
		begin = time.Now()
		_, err := dyn.Resource(helmCharts).Namespace(chartsNS).Create(ctx, helmChart(name, content, "word: first\n"), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return 0, err
	}
	if _, err := waitDeployed(ctx, dyn, chartsNS, name, 1); err != nil {
		return 0, fmt.Errorf("HelmChart %s: %w", name, err)
	}
	return time.Since(begin), nil
}

// upgrade gives the HelmChart new values and times it to revision 2
// deployed.
func upgrade(ctx context.Context, dyn dynamic.Interface, name string) (time.Duration, error) {
	res := dyn.Resource(helmCharts).Namespace(chartsNS)
	u, err := res.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	if err := unstructured.SetNestedField(u.Object, "word: second\n", "spec", "valuesContent"); err != nil {
		return 0, err
	}
	begin := time.Now()
	if _, err := res.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		return 0, err
	}
	if _, err := waitDeployed(ctx, dyn, chartsNS, name, 2); err != nil {
		return 0, fmt.Errorf("HelmChart %s upgrade: %w", name, err)
	}
	return time.Since(begin), nil
}

// chartTimes are the Helm operations timed on the first --disable traefik
// server.
type chartTimes struct {
	installs []time.Duration // in order; the first is the server's first Helm operation
	upgrade  time.Duration
}

func (c chartTimes) print(n int) {
	if len(c.installs) == 0 {
		return
	}
	fmt.Printf("HelmChart created → release deployed (Deployed True), chart of 10 objects without pods (4 ConfigMaps, Secret, 2 Services, ServiceAccount, Role, RoleBinding), --disable traefik, %d distinct HelmCharts one after another:\n", n)
	var each []string
	for _, d := range c.installs {
		each = append(each, benchutil.FmtDur(d))
	}
	_, _, hi := benchutil.Spread(c.installs)
	verdict := "met"
	if hi > 2*time.Second {
		verdict = "NOT met by every install"
	}
	fmt.Printf("  installs: %s (in order: %s; target ≤ 2 s: %s)\n", benchutil.FmtSpread(c.installs, "installs"), strings.Join(each, " "), verdict)
	fmt.Printf("  upgrade (new valuesContent → revision 2 deployed): %s\n", benchutil.FmtDur(c.upgrade))
}

// memoryRun is one pair of servers' idle memory, of the server process.
type memoryRun struct {
	controller, oneChart, disabled benchutil.Usage
}

// memoryPair starts a server with --disable traefik, reads its idle
// memory, installs one chart (timed), reads it again and, when timeCharts,
// times the other charts' installs and an upgrade; then a server with
// --disable helm-controller, idle.
func memoryPair(ctx context.Context, o options, base benchutil.ServerConfig, times *chartTimes, timeCharts bool) (memoryRun, error) {
	var m memoryRun
	archive, err := harness.PackChart("bench-ten", tenObjects())
	if err != nil {
		return m, err
	}
	content := base64.StdEncoding.EncodeToString(archive)

	cfg := base
	cfg.Args = []string{"--disable", "traefik"}
	err = withServer(ctx, o, cfg, func(srv *benchutil.Server, pctx context.Context) error {
		_, dyn, err := clients(pctx, srv.Kubeconfig)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "--disable traefik: idling %s\n", o.idle)
		if err := srv.Idle(ctx, o.idle); err != nil {
			return err
		}
		m.controller = benchutil.ReadUsage(srv.Cmd.Process.Pid)
		d, err := install(pctx, dyn, "bench-chart-1", content)
		if err != nil {
			return err
		}
		if timeCharts {
			times.installs = append(times.installs, d)
		}
		fmt.Fprintf(os.Stderr, "one chart installed in %s; idling %s\n", benchutil.FmtDur(d), o.idle)
		if err := srv.Idle(ctx, o.idle); err != nil {
			return err
		}
		m.oneChart = benchutil.ReadUsage(srv.Cmd.Process.Pid)
		if !timeCharts {
			return nil
		}
		for i := 2; i <= o.charts; i++ {
			d, err := install(pctx, dyn, fmt.Sprintf("bench-chart-%d", i), content)
			if err != nil {
				return err
			}
			times.installs = append(times.installs, d)
		}
		times.upgrade, err = upgrade(pctx, dyn, "bench-chart-1")
		return err
	})
	if err != nil {
		return m, err
	}

	cfg.Args = []string{"--disable", "helm-controller"}
	err = withServer(ctx, o, cfg, func(srv *benchutil.Server, pctx context.Context) error {
		fmt.Fprintf(os.Stderr, "--disable helm-controller: idling %s\n", o.idle)
		if err := srv.Idle(ctx, o.idle); err != nil {
			return err
		}
		m.disabled = benchutil.ReadUsage(srv.Cmd.Process.Pid)
		return nil
	})
	return m, err
}

// withServer starts a server on a fresh data dir, waits for its node Ready,
// runs f, and stops and cleans up.
func withServer(ctx context.Context, o options, cfg benchutil.ServerConfig, f func(*benchutil.Server, context.Context) error) error {
	srv, err := benchutil.StartServer(cfg)
	if err != nil {
		return err
	}
	defer srv.Cleanup()
	pctx, cancel := srv.WithTimeout(ctx, o.timeout+3*o.idle)
	defer cancel()
	c, err := benchutil.WaitClient(pctx, srv.Kubeconfig)
	if err != nil {
		return srv.Fail(err)
	}
	if err := benchutil.WaitNodeReady(pctx, c, srv.NodeName, nil); err != nil {
		return srv.Fail(fmt.Errorf("node Ready: %w", err))
	}
	if err := f(srv, pctx); err != nil {
		return srv.Fail(err)
	}
	srv.Stop()
	return nil
}

func printMemory(runs []memoryRun, idle time.Duration) {
	fmt.Printf("skiff server process, idle %s after node Ready (and again after one chart), fresh data dir each (MiB = 2^20 bytes):\n", idle)
	fmt.Printf("  %-58s %8s %8s %8s\n", "", "RSS MiB", "anon", "PSS")
	var rss, anon, rssChart, anonChart []float64
	for i, r := range runs {
		for _, l := range []struct {
			name string
			u    benchutil.Usage
		}{
			{"--disable helm-controller (no controller, no Traefik)", r.disabled},
			{"--disable traefik (the controller, no chart)", r.controller},
			{"--disable traefik, one chart of 10 objects installed", r.oneChart},
		} {
			fmt.Printf("  %d: %-55s %8.1f %8.1f %8.1f\n", i+1, l.name, l.u.RSS, l.u.Anon, l.u.PSS)
		}
		rss = append(rss, r.controller.RSS-r.disabled.RSS)
		anon = append(anon, r.controller.Anon-r.disabled.Anon)
		rssChart = append(rssChart, r.oneChart.RSS-r.disabled.RSS)
		anonChart = append(anonChart, r.oneChart.Anon-r.disabled.Anon)
	}
	line := func(what string, rss, anon []float64) {
		fmt.Printf("  added by the Helm controller%s, MiB per pair: RSS %s (median %.1f), anon %s (median %.1f)\n",
			what, list(rss), median(rss), list(anon), median(anon))
	}
	line("", rss, anon)
	line(" with one chart installed", rssChart, anonChart)
	added := median(rss) * (1 << 20) / mb
	verdict := "met"
	if added > 15 {
		verdict = "NOT met"
	}
	fmt.Printf("  target ≤ 15 MB added by the controller: median %.1f MB: %s; compare with the spread of one configuration between fresh servers, %s MiB RSS\n",
		added, verdict, spreadOf(runs))
}

// list prints values as "1.0, -2.5".
func list(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.1f", x))
	}
	return strings.Join(s, ", ")
}

// spreadOf is the widest max - min of one configuration's RSS over the
// runs: what a difference smaller than it cannot tell from noise.
func spreadOf(runs []memoryRun) string {
	widest := 0.0
	for _, get := range []func(memoryRun) float64{
		func(r memoryRun) float64 { return r.disabled.RSS },
		func(r memoryRun) float64 { return r.controller.RSS },
		func(r memoryRun) float64 { return r.oneChart.RSS },
	} {
		lo, hi := get(runs[0]), get(runs[0])
		for _, r := range runs {
			lo, hi = min(lo, get(r)), max(hi, get(r))
		}
		widest = max(widest, hi-lo)
	}
	if len(runs) < 2 {
		return "unknown with one run"
	}
	return fmt.Sprintf("up to %.1f", widest)
}

// median is the upper middle value of v, as benchutil.Spread's.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
