package join

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiff-k8s/skiff/internal/pki"
	"github.com/skiff-k8s/skiff/internal/token"
)

// cluster is a join server on a real TLS listener, with real CAs.
type cluster struct {
	url                 string
	serverTok, agentTok token.Token
	client              kubernetes.Interface
	serverCA, clientCA  *pki.CA
	tunnelCalls         []string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	files, err := pki.Ensure(pki.Options{Dir: dir, ServingIPs: nil})
	if err != nil {
		t.Fatal(err)
	}
	serverCA, err := pki.LoadCA(files.ServerCACert, files.ServerCAKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCA, err := pki.LoadCA(files.ClientCACert, files.ClientCAKey)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{client: fake.NewClientset(), serverCA: serverCA, clientCA: clientCA}
	if c.serverTok, err = token.Ensure(filepath.Join(dir, "token"), "", serverCA.CertPEM); err != nil {
		t.Fatal(err)
	}
	if c.agentTok, err = token.EnsureFor(filepath.Join(dir, "agent-token"), "", serverCA.CertPEM, token.AgentUser); err != nil {
		t.Fatal(err)
	}
	js := NewServer(ServerConfig{
		ServerToken: c.serverTok, AgentToken: c.agentTok, Client: c.client,
		ServerCA: serverCA, ClientCA: clientCA,
		Cluster: ClusterInfo{ClusterCIDR: "10.42.0.0/16", ServiceCIDR: "10.43.0.0/16", ClusterDNS: "10.43.0.10", ClusterDomain: "cluster.local", FlannelBackend: "vxlan"},
		Tunnel: func(w http.ResponseWriter, r *http.Request, node string) {
			c.tunnelCalls = append(c.tunnelCalls, node)
			w.WriteHeader(http.StatusNoContent)
		},
		ServerBootstrap: func() ([]byte, error) { return []byte(`{"ok":true}`), nil },
	})
	mux := http.NewServeMux()
	mux.Handle("/cacerts", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(serverCA.CertPEM) }))
	for p, h := range js.Routes() {
		mux.Handle(p, h)
	}
	srv := httptest.NewUnstartedServer(mux)
	certPEM, keyPEM, err := serverCA.Sign("localhost", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

func certRequest(t *testing.T) CertRequest {
	t.Helper()
	req := CertRequest{Hostname: "box", IPs: []string{"192.168.5.7"}}
	dir := t.TempDir()
	for i, dst := range []*[]byte{&req.KubeletClient, &req.KubeletServing, &req.KubeProxy} {
		key, err := pki.EnsureKey(filepath.Join(dir, string(rune('a'+i))+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if *dst, err = pki.CSR(key, "x"); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("not PEM: %q", data)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAgentJoinsAndGetsItsCertificates(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	cl, err := Connect(ctx, c.url, c.agentTok, Identity{Name: "node-a", Password: "pw-a"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cl.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.ClusterCIDR != "10.42.0.0/16" || info.FlannelBackend != "vxlan" {
		t.Errorf("config = %+v", info)
	}
	resp, err := cl.NodeCerts(ctx, certRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	kc := parseCert(t, resp.KubeletClient)
	if kc.Subject.CommonName != "system:node:node-a" || len(kc.Subject.Organization) != 1 || kc.Subject.Organization[0] != "system:nodes" {
		t.Errorf("kubelet client subject = %v", kc.Subject)
	}
	if err := kc.CheckSignatureFrom(c.clientCA.Cert); err != nil {
		t.Errorf("kubelet client cert not from the client CA: %v", err)
	}
	ks := parseCert(t, resp.KubeletServing)
	if err := ks.VerifyHostname("192.168.5.7"); err != nil {
		t.Errorf("serving cert: %v", err)
	}
	if err := ks.VerifyHostname("node-a"); err != nil {
		t.Errorf("serving cert: %v", err)
	}
	if p := parseCert(t, resp.KubeProxy); p.Subject.CommonName != "system:kube-proxy" {
		t.Errorf("kube-proxy subject = %v", p.Subject)
	}
	// The password's hash, not the password, is kept.
	s, err := c.client.CoreV1().Secrets("kube-system").Get(ctx, "node-a.node-password.skiff", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(s.Data["hash"]), "pw-a") || !passwordMatches(string(s.Data["hash"]), "pw-a") {
		t.Errorf("stored hash %q", s.Data["hash"])
	}
}

func TestNodeNameHeldByAnotherPasswordIsRefused(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	first, err := Connect(ctx, c.url, c.agentTok, Identity{Name: "box", Password: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Config(ctx); err != nil {
		t.Fatal(err)
	}
	second, err := Connect(ctx, c.url, c.agentTok, Identity{Name: "box", Password: "two"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = second.Config(ctx)
	if !IsRefused(err) || !strings.Contains(err.Error(), "already taken") || !strings.Contains(err.Error(), "--with-node-id") {
		t.Fatalf("second node with the same name: %v", err)
	}
	// The first node rejoins under its name.
	if _, err := first.NodeCerts(ctx, certRequest(t)); err != nil {
		t.Fatalf("rejoin: %v", err)
	}
}

func TestTokensAndRoles(t *testing.T) {
	c := newCluster(t)
	other := newCluster(t)
	ctx := context.Background()
	id := Identity{Name: "n1", Password: "p"}

	wrong := c.agentTok
	wrong.Password = "not-the-secret"
	cl, err := Connect(ctx, c.url, wrong, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Config(ctx); !IsRefused(err) || !strings.Contains(err.Error(), "refused the token") {
		t.Errorf("wrong secret: %v", err)
	}

	// A valid token of another cluster carries another CA hash.
	if _, err := Connect(ctx, c.url, other.agentTok, id); !IsRefused(err) || !strings.Contains(err.Error(), "does not match the CA hash in the token") {
		t.Errorf("other cluster's token: %v", err)
	}

	// The agent token cannot fetch what servers need; the server token can.
	cl, err = Connect(ctx, c.url, c.agentTok, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ServerBootstrap(ctx); !IsRefused(err) || !strings.Contains(err.Error(), "is an agent token") {
		t.Errorf("agent token as server: %v", err)
	}
	cl, err = Connect(ctx, c.url, c.serverTok, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ServerBootstrap(ctx); err != nil {
		t.Errorf("server token as server: %v", err)
	}

	// A short token (the secret alone) works, with the CA taken on trust.
	short := token.Token{Password: c.agentTok.Password}
	cl, err = Connect(ctx, c.url, short, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Config(ctx); err != nil {
		t.Errorf("short token: %v", err)
	}
}

func TestBootstrapTokenJoinsUntilItExpires(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	tokID, secret, err := token.Create(ctx, c.client, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	tok := token.Token{CAHash: c.serverTok.CAHash, Password: tokID + "." + secret}
	cl, err := Connect(ctx, c.url, tok, Identity{Name: "n2", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Config(ctx); err != nil {
		t.Fatalf("bootstrap token: %v", err)
	}
	if _, err := cl.ServerBootstrap(ctx); !IsRefused(err) {
		t.Errorf("bootstrap token as server: %v", err)
	}
	tok.Password = tokID + ".0123456789abcdef"
	cl, _ = Connect(ctx, c.url, tok, Identity{Name: "n2", Password: "p"})
	if _, err := cl.Config(ctx); !IsRefused(err) {
		t.Errorf("bootstrap token with a wrong secret: %v", err)
	}
}

func TestTunnelGetsTheAuthenticatedNode(t *testing.T) {
	c := newCluster(t)
	cl, err := Connect(context.Background(), c.url, c.agentTok, Identity{Name: "n3", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, c.url+PathConnect, nil)
	req.Header = cl.Header()
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: cl.TLSConfig()}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || len(c.tunnelCalls) != 1 || c.tunnelCalls[0] != "n3" {
		t.Errorf("tunnel: status %d, calls %v", resp.StatusCode, c.tunnelCalls)
	}
}

func TestServerRefusesBadNodeNames(t *testing.T) {
	c := newCluster(t)
	cl, err := Connect(context.Background(), c.url, c.agentTok, Identity{Name: "Bad_Name", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Config(context.Background()); !IsRefused(err) || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("bad name: %v", err)
	}
}
