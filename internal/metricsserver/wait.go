package metricsserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

const (
	// authConfigMap is where the apiserver publishes the CAs and headers
	// of its front proxy, which delegated authentication reads.
	authConfigMap = "extension-apiserver-authentication"
	// authConfigWait is how often the ConfigMap is looked for: the
	// apiserver writes it from a post-start hook, which /readyz does not
	// wait for.
	authConfigWait = time.Second
	// probeInterval and probeTimeout pace the wait for the server to
	// answer its /healthz; before it serves, a connection waits in the
	// listen backlog until the timeout.
	probeInterval = 200 * time.Millisecond
	probeTimeout  = 2 * time.Second
)

// waitForAuthConfig waits until the apiserver has published its front
// proxy's CA: delegated authentication reads it once when it is set up and
// fails if it is missing. The apiserver writes it shortly after it serves,
// so a server started after the apiserver rarely waits.
func waitForAuthConfig(ctx context.Context, client kubernetes.Interface) error {
	logged := false
	for {
		cm, err := client.CoreV1().ConfigMaps(Namespace).Get(ctx, authConfigMap, metav1.GetOptions{})
		if err == nil && cm.Data["requestheader-client-ca-file"] != "" {
			return nil
		}
		if !logged {
			klog.InfoS("metrics-server: waiting for the apiserver's front-proxy configuration",
				"configmap", Namespace+"/"+authConfigMap, "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(authConfigWait):
		}
	}
}

// probe asks the server's /healthz over TLS, checking its certificate as
// the aggregator does (server CA, the Service's name).
type probe struct {
	client *http.Client
	url    string
}

func newProbe(caPEM []byte, addr string) (*probe, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("metrics-server: the server CA holds no certificate")
	}
	return &probe{
		client: &http.Client{
			Timeout: probeTimeout,
			Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: serviceHost, MinVersion: tls.VersionTLS12},
				DisableKeepAlives: true,
			},
		},
		url: "https://" + addr + "/healthz",
	}, nil
}

func (p *probe) healthy(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return false
	}
	resp, err := p.client.Do(req)
	if err != nil {
		klog.V(4).InfoS("metrics-server: not serving yet", "err", err)
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1024))
	return resp.StatusCode == http.StatusOK
}

func (p *probe) close() { p.client.CloseIdleConnections() }
