package node

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
)

// chartRepo is a Helm chart repository on the host (the Helm controller
// runs in the server's process there): index.yaml and the archives of
// chart e2e-repo, versions 0.1.0 and 0.2.0. It stands in for a repository
// on the Internet, which the tests cannot reach.
type chartRepo struct {
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	got   []string
}

func newChartRepo(t *testing.T) *chartRepo {
	t.Helper()
	r := &chartRepo{files: map[string][]byte{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.got = append(r.got, req.URL.Path)
		b, ok := r.files[req.URL.Path]
		r.mu.Unlock()
		if !ok {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(r.srv.Close)

	index := repo.NewIndexFile()
	for _, v := range []string{"0.1.0", "0.2.0"} {
		tgz := configChart("e2e-repo", v).pack(t, "e2e-repo")
		sum := sha256.Sum256(tgz)
		// In a folder of their own, as repositories that serve their index
		// apart from the archives do: the index's URLs must lead there.
		file := "e2e-repo-" + v + ".tgz"
		if err := index.MustAdd(&chart.Metadata{APIVersion: "v2", Name: "e2e-repo", Version: v}, file, r.srv.URL+"/charts", hex.EncodeToString(sum[:])); err != nil {
			t.Fatal(err)
		}
		r.files["/charts/"+file] = tgz
	}
	index.SortEntries()
	path := filepath.Join(t.TempDir(), "index.yaml")
	if err := index.WriteFile(path, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r.files["/index.yaml"] = b
	return r
}

// served says whether the repository was asked for path.
func (r *chartRepo) served(path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.got, path)
}

func (r *chartRepo) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// testChartSources: a chart from a repository by name and version, and
// one from the static charts folder by k3s's URL, which the supervisor
// serves to authenticated clients only.
func testChartSources(t *testing.T, n *node, r *chartRepo) {
	const ns = "e2e-helm-sources"
	spec := map[string]any{"repo": r.srv.URL, "chart": "e2e-repo", "version": "0.1.0", "targetNamespace": ns, "createNamespace": true}
	n.apply(helmChartYAML(t, helmNS, "e2e-repo", spec))
	hc := n.waitHelmChart(helmNS, "e2e-repo", helmTimeout, "deployed from the repository", deployedAt(1))
	checkRelease(t, hc, "e2e-repo", ns, "e2e-repo", "0.1.0", "", 1)
	n.waitConfigMap(ns, "e2e-repo", 10*time.Second, func(cm *corev1.ConfigMap) bool { return cm.Data["chartVersion"] == "0.1.0" })
	if !r.served("/index.yaml") || !r.served("/charts/e2e-repo-0.1.0.tgz") {
		t.Errorf("the repository was asked for %v; want its index.yaml and charts/e2e-repo-0.1.0.tgz", r.requests())
	}

	// Another version of the chart: an upgrade.
	spec["version"] = "0.2.0"
	n.apply(helmChartYAML(t, helmNS, "e2e-repo", spec))
	hc = n.waitHelmChart(helmNS, "e2e-repo", helmTimeout, "deployed at revision 2 from chart version 0.2.0", deployedAt(2))
	checkRelease(t, hc, "e2e-repo", ns, "e2e-repo", "0.2.0", "", 2)
	n.waitConfigMap(ns, "e2e-repo", 10*time.Second, func(cm *corev1.ConfigMap) bool { return cm.Data["chartVersion"] == "0.2.0" })
	n.kubectl("delete", "helmchart", "-n", helmNS, "e2e-repo", "--wait=false")
	n.waitHelmChartGone(helmNS, "e2e-repo", helmTimeout)

	// A chart named in the static folder before it is copied there fails
	// and says which file; once copied, it installs without a change to
	// the HelmChart.
	const file = "e2e-static-0.3.0.tgz"
	tgz := configChart("e2e-static", "0.3.0").pack(t, "e2e-static")
	n.apply(helmChartYAML(t, helmNS, "e2e-static", map[string]any{
		"chart": "https://%{KUBERNETES_API}%/static/charts/" + file, "targetNamespace": ns,
	}))
	n.waitHelmChart(helmNS, "e2e-static", helmTimeout, "Failed, its file not yet copied", failedWith("ChartFailed", file))
	charts := filepath.Join(n.DataDir, "server", "static", "charts")
	if err := os.MkdirAll(charts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(charts, file), tgz, 0o644); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	hc = n.waitHelmChart(helmNS, "e2e-static", helmTimeout, "deployed once its file was copied", deployedAt(1))
	t.Logf("the static chart deployed %v after its file was copied (a retry)", time.Since(begin).Round(time.Millisecond))
	checkRelease(t, hc, "e2e-static", ns, "e2e-static", "0.3.0", "", 1)
	n.waitConfigMap(ns, "e2e-static", 10*time.Second, func(cm *corev1.ConfigMap) bool { return cm.Data["chartVersion"] == "0.3.0" })

	t.Run("served_to_authenticated_clients", func(t *testing.T) { n.in(t).checkStaticServed(file, tgz) })

	n.kubectl("delete", "helmchart", "-n", helmNS, "e2e-static", "--wait=false")
	n.waitHelmChartGone(helmNS, "e2e-static", helmTimeout)
	n.waitConfigMapGone(ns, "e2e-static", 30*time.Second)
}

// checkStaticServed: the supervisor serves /static/charts/<file> to the
// admin's client certificate and to a ServiceAccount's token, and refuses
// anonymous clients and a made-up token.
func (n *node) checkStaticServed(file string, want []byte) {
	t := n.t
	t.Helper()
	tlsCfg, err := rest.TLSConfigFor(n.rest)
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg == nil || (tlsCfg.GetClientCertificate == nil && len(tlsCfg.Certificates) == 0) {
		t.Fatalf("the admin kubeconfig %s has no client certificate", n.Kubeconfig)
	}
	url := n.rest.Host + "/static/charts/" + file
	admin := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: tlsCfg}}
	// The server's CA, no client certificate.
	anon := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: tlsCfg.RootCAs}}}
	get := func(hc *http.Client, url, token string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	if code, body := get(admin, url, ""); code != http.StatusOK || !bytes.Equal(body, want) {
		t.Errorf("GET %s with the admin's client certificate: HTTP %d, %d bytes; want 200 and the file's %d bytes", url, code, len(body), len(want))
	}
	if code, body := get(anon, url, ""); code != http.StatusUnauthorized {
		t.Errorf("GET %s anonymously: HTTP %d %q, want 401", url, code, truncate(body))
	}
	token := strings.TrimSpace(n.kubectl("create", "token", "default", "-n", "default"))
	if code, body := get(anon, url, token); code != http.StatusOK || !bytes.Equal(body, want) {
		t.Errorf("GET %s with a ServiceAccount's token: HTTP %d, %d bytes; want 200 and the file", url, code, len(body))
	}
	if code, body := get(anon, url, "made-up-token"); code != http.StatusUnauthorized {
		t.Errorf("GET %s with a made-up token: HTTP %d %q, want 401", url, code, truncate(body))
	}
	if code, _ := get(admin, n.rest.Host+"/static/charts/not-there.tgz", ""); code != http.StatusNotFound {
		t.Errorf("GET a file the folder does not hold: HTTP %d, want 404", code)
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
