package metricsserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/metrics-server/pkg/scraper/client/resource"
	msserver "sigs.k8s.io/metrics-server/pkg/server"

	"github.com/skiff-k8s/skiff/internal/pki"
)

// The generic server serves on our listener with our certificate, names
// the advertised address, and leaves alone what the process shares: no
// profiling or log-level handlers, no max-in-flight filter or its hook,
// and a loopback client without credentials.
func TestGenericConfig(t *testing.T) {
	c, err := validConfig(t).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ensureServingCert(c)
	if err != nil {
		t.Fatal(err)
	}
	ln := loopbackListener(t)
	gc, err := genericConfig(c, ln, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if gc.SecureServing == nil || gc.SecureServing.Listener != ln {
		t.Fatal("the server does not serve on the listener it was given")
	}
	if gc.SecureServing.Cert == nil {
		t.Fatal("no serving certificate")
	}
	if pem, _ := gc.SecureServing.Cert.CurrentCertKeyContent(); !strings.Contains(string(pem), "BEGIN CERTIFICATE") {
		t.Error("the serving certificate was not loaded from its file")
	}
	if gc.ExternalAddress != "192.0.2.10:6445" {
		t.Errorf("external address %q, want the advertised 192.0.2.10:6445", gc.ExternalAddress)
	}
	if gc.EnableProfiling {
		t.Error("profiling (and /debug/flags/v, which sets the process's log level) is on")
	}
	if gc.MaxRequestsInFlight != 0 || gc.MaxMutatingRequestsInFlight != 0 {
		t.Errorf("max in flight %d/%d, want none (its counters are the apiserver's)", gc.MaxRequestsInFlight, gc.MaxMutatingRequestsInFlight)
	}
	if !gc.DisabledPostStartHooks.Has(maxInFlightHook) {
		t.Errorf("the %s hook is not disabled", maxInFlightHook)
	}
	lc := gc.LoopbackClientConfig
	if lc == nil || lc.BearerToken != "" || lc.CertFile != "" || len(lc.CertData) != 0 || lc.Username != "" {
		t.Errorf("the loopback client carries credentials: %+v", lc)
	}
	if gc.OpenAPIConfig == nil || gc.OpenAPIV3Config == nil {
		t.Error("no OpenAPI: kubectl explain and the aggregated document would not know the metrics types")
	}
}

// The whole metrics-server builds from our config without reaching the
// API (the informers are made but not run), serves the metrics.k8s.io
// group, and runs no post-start hook, so that nothing can end the
// process when it is stopped early.
func TestServerBuilds(t *testing.T) {
	c, err := validConfig(t).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ensureServingCert(c)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := genericConfig(c, loopbackListener(t), certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Without delegateAuth, which needs the apiserver: the handler chain
	// then lets every request through.
	sc := &msserver.Config{
		Apiserver:        gc,
		Rest:             &rest.Config{Host: "https://127.0.0.1:1"},
		Kubelet:          kubeletConfig(c),
		MetricResolution: c.MetricResolution,
		ScrapeTimeout:    c.ScrapeTimeout,
	}
	srv, err := sc.Complete()
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	srv.GenericAPIServer.PrepareRun()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		srv.GenericAPIServer.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get("/apis/metrics.k8s.io/v1beta1")
	if code != http.StatusOK || !strings.Contains(body, `"nodes"`) || !strings.Contains(body, `"pods"`) {
		t.Errorf("GET /apis/metrics.k8s.io/v1beta1: %d %s", code, body)
	}
	// The OpenAPI documents the aggregator merges name the types by their
	// model names, as the apiserver's own do.
	for _, path := range []string{"/openapi/v2", "/openapi/v3/apis/metrics.k8s.io/v1beta1"} {
		code, body = get(path)
		if code != http.StatusOK || !strings.Contains(body, "io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics") ||
			!strings.Contains(body, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") || strings.Contains(body, "k8s.io~1") {
			t.Errorf("GET %s: %d, want the types under their model names:\n%.600s", path, code, body)
		}
	}
	code, body = get("/livez?verbose")
	if strings.Contains(body, "poststarthook/") {
		t.Errorf("the server has post-start hooks (/livez: %d):\n%s", code, body)
	}
	if code, _ := get("/debug/pprof/"); code == http.StatusOK {
		t.Error("/debug/pprof/ is served")
	}
}

// The scrape reaches a kubelet at the InternalIP and port of its Node's
// status, through Config.Dial, presents the apiserver's kubelet client
// certificate, and trusts a kubelet serving certificate the server CA
// signed (as the server signs every node's).
func TestScrapeKubelet(t *testing.T) {
	c, err := validConfig(t).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	// A kubelet: serving certificate from the server CA for its address,
	// client certificates from the client CA required.
	servingCert, servingKey := filepath.Join(t.TempDir(), "kubelet.crt"), filepath.Join(t.TempDir(), "kubelet.key")
	if err := c.ServerCA.EnsureLeaf(pki.Leaf{CertFile: servingCert, KeyFile: servingKey, CN: "node-a",
		Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNS: []string{"node-a"}}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(servingCert, servingKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCA, err := os.ReadFile(filepath.Join(c.CertDir, "client-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	clients := x509.NewCertPool()
	clients.AppendCertsFromPEM(clientCA)
	var caller atomic.Value
	now := time.Now().UnixMilli()
	kubelet := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller.Store(r.TLS.PeerCertificates[0].Subject.CommonName + " " + r.URL.Path)
		fmt.Fprintf(w, "node_cpu_usage_seconds_total 12.5 %d\nnode_memory_working_set_bytes 1.5e+08 %d\n", now, now)
	}))
	kubelet.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: clients, ClientAuth: tls.RequireAndVerifyClientCert}
	kubelet.StartTLS()
	defer kubelet.Close()
	port := kubelet.Listener.Addr().(*net.TCPAddr).Port

	var dialled atomic.Value
	c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialled.Store(addr)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	kc, err := resource.NewForConfig(kubeletConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a"},
		Status: corev1.NodeStatus{
			// The host name first, as the kubelet lists it: DNS may not
			// know it, and it must not be tried first.
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeHostName, Address: "node-a.invalid"},
				{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	batch, err := kc.GetMetrics(ctx, node)
	if err != nil {
		t.Fatalf("scraping the kubelet: %v", err)
	}
	if m, ok := batch.Nodes["node-a"]; !ok || m.MemoryUsage != 150000000 {
		t.Errorf("node metrics %+v, want node-a's memory 150000000", batch.Nodes)
	}
	if got, want := dialled.Load(), fmt.Sprintf("127.0.0.1:%d", port); got != want {
		t.Errorf("dialled %v, want %s through Config.Dial", got, want)
	}
	if got := caller.Load(); got != "system:kube-apiserver /metrics/resource" {
		t.Errorf("the kubelet saw %v, want the apiserver's kubelet client asking for /metrics/resource", got)
	}
}

// Stopped while its caches wait for an apiserver that does not answer,
// metrics-server's RunUntil returns at once and without error: a stop
// during start-up is not a failure, and ends nothing else.
func TestRunUntilStopsBeforeSync(t *testing.T) {
	c, err := validConfig(t).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ensureServingCert(c)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := genericConfig(c, loopbackListener(t), certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	sc := &msserver.Config{
		Apiserver:        gc,
		Rest:             &rest.Config{Host: "https://127.0.0.1:1"},
		Kubelet:          kubeletConfig(c),
		MetricResolution: c.MetricResolution,
		ScrapeTimeout:    c.ScrapeTimeout,
	}
	srv, err := sc.Complete()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	ended := make(chan error, 1)
	go func() { ended <- srv.RunUntil(stop) }()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("RunUntil = %v, want nil when stopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunUntil did not return after its stop")
	}
}
