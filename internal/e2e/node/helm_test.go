package node

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// helmNS is where the tests put their HelmCharts, as k3s users and skiff's
// own addons do; the releases go to namespaces of their own.
const helmNS = "kube-system"

// finalizer is what holds a HelmChart until its release is uninstalled.
const finalizer = "helm.cattle.io/skiff-release"

// TestE2ENodeHelm: HelmCharts on a real server, offline, with Traefik on
// as by default. A chart given as chartContent installs (its pods run,
// the helm CLI lists it), upgrades when its values change and again when a
// HelmChartConfig overrides one, and is uninstalled with its objects when
// the HelmChart goes; HelmCharts dropped into the manifests folder install,
// a chart that does not render, bad values and a missing repository say
// what is wrong in the status and an Event while other charts install;
// a chart comes from a Helm repository served here and from the static
// charts folder, which the supervisor serves only to authenticated
// clients; an Ingress with no class answers through Traefik on the node's
// address, on 80 and on 443; a restart with --disable helm-controller
// takes Traefik away and installs nothing, and one with --disable traefik
// installs again but leaves Traefik out.
func TestE2ENodeHelm(t *testing.T) {
	integration(t)
	// Before the node, so that the build does not slow its start.
	helmBin := buildHelm(t, t.TempDir())
	repo := newChartRepo(t)
	n := newNode(t)
	n.Start()
	helm := n.helm(helmBin)

	t.Run("chart_content", func(t *testing.T) { testChartContent(t, n.in(t), helm) })
	t.Run("manifests_folder_and_bad_input", func(t *testing.T) { testHelmBadInput(t, n.in(t), helm) })
	t.Run("repo_and_static_charts", func(t *testing.T) { testChartSources(t, n.in(t), repo) })
	// After the charts: Traefik has started meanwhile, as it would for a
	// user.
	t.Run("ingress", func(t *testing.T) { testIngress(t, n.in(t)) })
	// Restarts, each on a copy of n with the subtest's t: the node's
	// process is shared, and the admin kubeconfig stays valid.
	base := slices.Clone(n.Args)
	t.Run("disable_helm_controller", func(t *testing.T) { testDisableHelmController(t, n.in(t), base) })
	t.Run("disable_traefik", func(t *testing.T) { testDisableTraefik(t, n.in(t), base) })
}

// testChartContent: install, upgrade by valuesContent, upgrade by a
// HelmChartConfig, uninstall.
func testChartContent(t *testing.T, n *node, helm helmCLI) {
	const name, ns = "e2e-web", "e2e-helm"
	spec := map[string]any{
		"chartContent":    b64(webChart(name, "0.1.0").pack(t, name)),
		"targetNamespace": ns,
		"createNamespace": true,
	}
	begin := time.Now()
	n.apply(helmChartYAML(t, helmNS, name, spec))
	hc := n.waitHelmChart(helmNS, name, helmTimeout, "deployed at revision 1", deployedAt(1))
	t.Logf("chartContent: deployed %v after the HelmChart was created", time.Since(begin).Round(time.Millisecond))
	checkRelease(t, hc, name, ns, name, "0.1.0", "1.0", 1)
	if !slices.Contains(hc.Finalizers, finalizer) {
		t.Errorf("HelmChart %s/%s finalizers %v, want %s", helmNS, name, hc.Finalizers, finalizer)
	}
	n.waitHelmEvent(helmNS, name, "Normal", "Installed", name+"-0.1.0", 30*time.Second)
	pods := n.podsWithEnv(ns, name, "hello", podTimeout)
	n.expectServiceAnswers(ns, name, pods)
	if r, ok := helm.list(t)[ns+"/"+name]; !ok || r.Revision != "1" || r.Status != "deployed" || r.Chart != name+"-0.1.0" || r.AppVersion != "1.0" {
		t.Errorf("helm list -A: %s/%s is %+v (listed: %v); want revision 1, deployed, chart %s-0.1.0, app version 1.0", ns, name, r, ok, name)
	}

	// New values: an upgrade, and the pods roll.
	spec["valuesContent"] = "greeting: upgraded\n"
	n.apply(helmChartYAML(t, helmNS, name, spec))
	hc = n.waitHelmChart(helmNS, name, helmTimeout, "deployed at revision 2 after a valuesContent change", deployedAt(2))
	checkRelease(t, hc, name, ns, name, "0.1.0", "1.0", 2)
	n.waitHelmEvent(helmNS, name, "Normal", "Upgraded", "revision 2", 30*time.Second)
	n.podsWithEnv(ns, name, "upgraded", podTimeout)

	// A HelmChartConfig of the same name overrides the value: another.
	n.apply(fmt.Sprintf(`apiVersion: helm.cattle.io/v1
kind: HelmChartConfig
metadata:
  name: %s
  namespace: %s
spec:
  valuesContent: |
    greeting: from-config
`, name, helmNS))
	hc = n.waitHelmChart(helmNS, name, helmTimeout, "deployed at revision 3 after a HelmChartConfig", deployedAt(3))
	checkRelease(t, hc, name, ns, name, "0.1.0", "1.0", 3)
	n.podsWithEnv(ns, name, "from-config", podTimeout)
	if r := helm.list(t)[ns+"/"+name]; r.Revision != "3" || r.Status != "deployed" {
		t.Errorf("helm list -A after the HelmChartConfig: %+v, want revision 3 deployed", r)
	}
	var vals map[string]any
	out := helm.run(t, "get", "values", name, "-n", ns, "-o", "json")
	if err := json.Unmarshal([]byte(out), &vals); err != nil || vals["greeting"] != "from-config" {
		t.Errorf("helm get values %s: %q (%v), want greeting: from-config", name, out, err)
	}

	// Deleted: uninstalled, its objects gone, then the HelmChart itself.
	n.kubectl("delete", "helmchart", "-n", helmNS, name, "--wait=false")
	n.waitHelmChartGone(helmNS, name, helmTimeout)
	n.waitHelmEvent(helmNS, name, "Normal", "Uninstalled", ns+"/"+name, 30*time.Second)
	ctx := within(t, 30*time.Second)
	ok, err := poll(ctx, 250*time.Millisecond, func() (bool, error) {
		_, derr := n.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		_, serr := n.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(derr) && apierrors.IsNotFound(serr), nil
	})
	if !ok {
		t.Errorf("the release's Deployment and Service are still there 30 s after the HelmChart went (%v)\n%s", err, n.describePods(ns))
	}
	if r, ok := helm.list(t)[ns+"/"+name]; ok {
		t.Errorf("helm list -A still shows %s/%s after the HelmChart was deleted: %+v", ns, name, r)
	}
	n.kubectl("delete", "helmchartconfig", "-n", helmNS, name)
}

// expectServiceAnswers checks that the chart's Service reaches its pods.
func (n *node) expectServiceAnswers(ns, name string, pods []corev1.Pod) {
	n.t.Helper()
	svc, err := n.client.CoreV1().Services(ns).Get(within(n.t, 10*time.Second), name, metav1.GetOptions{})
	if err != nil {
		n.t.Fatalf("the chart's Service: %v", err)
	}
	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/"
	expectHTTP(n.t, "the chart's Service", url, 30*time.Second, func(body string) bool {
		return slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.Name == strings.TrimSpace(body) })
	})
}

// testHelmBadInput: HelmCharts in a file of the manifests folder, one of
// them a chart that fails to render; bad values; a repository that is not
// there. Each says what is wrong, and charts beside them install.
func testHelmBadInput(t *testing.T, n *node, helm helmCLI) {
	const ns = "e2e-helm-files"
	broken := configChart("e2e-broken", "0.1.0")
	broken["templates/broken.yaml"] = `{{ fail "boom: e2e-broken cannot render" }}`
	dir := filepath.Join(n.DataDir, "server", "manifests")
	file := "e2e-helm.yaml"
	writeManifest(t, dir, file, helmChartYAML(t, helmNS, "e2e-broken", map[string]any{
		"chartContent": b64(broken.pack(t, "e2e-broken")), "targetNamespace": ns, "createNamespace": true,
	})+"---\n"+helmChartYAML(t, helmNS, "e2e-files", map[string]any{
		"chartContent": b64(configChart("e2e-files", "0.1.0").pack(t, "e2e-files")), "targetNamespace": ns, "createNamespace": true,
		"valuesContent": "word: from-a-file\n",
	}))

	hc := n.waitHelmChart(helmNS, "e2e-files", helmTimeout, "deployed from the manifests folder", deployedAt(1))
	checkRelease(t, hc, "e2e-files", ns, "e2e-files", "0.1.0", "", 1)
	n.waitConfigMap(ns, "e2e-files", 10*time.Second, func(cm *corev1.ConfigMap) bool { return cm.Data["word"] == "from-a-file" })

	const boom = "boom: e2e-broken cannot render"
	hc = n.waitHelmChart(helmNS, "e2e-broken", helmTimeout, "Failed with Helm's render error", failedWith("InstallFailed", boom))
	if d := hc.condition("Deployed"); d == nil || d.Status != metav1.ConditionFalse {
		t.Errorf("a chart that does not render has Deployed %+v, want False", d)
	}
	n.waitHelmEvent(helmNS, "e2e-broken", "Warning", "InstallFailed", boom, 30*time.Second)
	if r, ok := helm.list(t)[ns+"/e2e-broken"]; ok && r.Status == "deployed" {
		t.Errorf("helm list -A shows the chart that does not render as deployed: %+v", r)
	}

	// While that one fails (and is retried), new charts still install.
	n.apply(helmChartYAML(t, helmNS, "e2e-after", map[string]any{
		"chartContent": b64(configChart("e2e-after", "0.1.0").pack(t, "e2e-after")), "targetNamespace": ns,
	}))
	n.waitHelmChart(helmNS, "e2e-after", helmTimeout, "deployed beside a failing chart", deployedAt(1))

	// Values that are not YAML.
	n.apply(helmChartYAML(t, helmNS, "e2e-badvalues", map[string]any{
		"chartContent": b64(configChart("e2e-badvalues", "0.1.0").pack(t, "e2e-badvalues")), "targetNamespace": ns,
		"valuesContent": "word: [unclosed\n",
	}))
	n.waitHelmChart(helmNS, "e2e-badvalues", helmTimeout, "Failed for its values", failedWith("InvalidValues", "spec.valuesContent is not valid YAML"))
	n.waitHelmEvent(helmNS, "e2e-badvalues", "Warning", "InvalidValues", "valuesContent", 30*time.Second)

	// A repository that is not there (a port nothing listens on).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + l.Addr().String()
	l.Close()
	n.apply(helmChartYAML(t, helmNS, "e2e-norepo", map[string]any{
		"repo": gone, "chart": "nothing", "version": "1.0.0", "targetNamespace": ns,
	}))
	hc = n.waitHelmChart(helmNS, "e2e-norepo", helmTimeout, "Failed for its repository", failedWith("ChartFailed", l.Addr().String()))
	t.Logf("a missing repository: %s", hc.condition("Failed").Message)
	n.waitHelmEvent(helmNS, "e2e-norepo", "Warning", "ChartFailed", l.Addr().String(), 30*time.Second)

	// The file removed: its HelmCharts go, the installed one's release
	// with them, and the failed one does not hang on the finalizer.
	if err := os.Remove(filepath.Join(dir, file)); err != nil {
		t.Fatal(err)
	}
	n.waitHelmChartGone(helmNS, "e2e-files", helmTimeout)
	n.waitHelmChartGone(helmNS, "e2e-broken", helmTimeout)
	n.waitConfigMapGone(ns, "e2e-files", 30*time.Second)
	if _, ok := helm.list(t)[ns+"/e2e-files"]; ok {
		t.Errorf("helm list -A still shows %s/e2e-files after its manifest was removed", ns)
	}
	for _, name := range []string{"e2e-after", "e2e-badvalues", "e2e-norepo"} {
		n.kubectl("delete", "helmchart", "-n", helmNS, name, "--wait=false")
	}
	for _, name := range []string{"e2e-after", "e2e-badvalues", "e2e-norepo"} {
		n.waitHelmChartGone(helmNS, name, helmTimeout)
	}
}
