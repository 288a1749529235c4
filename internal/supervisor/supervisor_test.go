package supervisor

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pki is a throwaway server CA, serving cert, client CA and client cert.
type pki struct {
	caPEM       []byte
	caPool      *x509.CertPool
	certFile    string
	keyFile     string
	clientCA    string
	clientCert  tls.Certificate
	clientLeaf  *x509.Certificate
	strangeCert tls.Certificate // client cert from a CA nobody trusts
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{}

	caKey, caCert, caPEM := newCA(t, "test-server-ca")
	p.caPEM = caPEM
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(caCert)

	srvKey, srvDER := newLeaf(t, caKey, caCert, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "skiff"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.certFile = filepath.Join(dir, "serving.crt")
	p.keyFile = filepath.Join(dir, "serving.key")
	writePEM(t, p.certFile, "CERTIFICATE", srvDER)
	writePEM(t, p.keyFile, "EC PRIVATE KEY", marshalKey(t, srvKey))

	clientCAKey, clientCACert, clientCAPEM := newCA(t, "test-client-ca")
	p.clientCA = filepath.Join(dir, "client-ca.crt")
	if err := os.WriteFile(p.clientCA, clientCAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	p.clientCert, p.clientLeaf = newClientCert(t, clientCAKey, clientCACert, "admin")

	otherKey, otherCert, _ := newCA(t, "untrusted-ca")
	p.strangeCert, _ = newClientCert(t, otherKey, otherCert, "stranger")
	return p
}

func newCA(t *testing.T, cn string) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func newLeaf(t *testing.T, caKey *ecdsa.PrivateKey, ca *x509.Certificate, tmpl *x509.Certificate) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func newClientCert(t *testing.T, caKey *ecdsa.PrivateKey, ca *x509.Certificate, cn string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, der := newLeaf(t, caKey, ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

func marshalKey(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs a supervisor on a free loopback port and stops it at the end.
func start(t *testing.T, p *pki, routes map[string]http.Handler) *Supervisor {
	t.Helper()
	s := New(Config{
		BindAddress:  "127.0.0.1",
		Port:         0,
		CertFile:     p.certFile,
		KeyFile:      p.keyFile,
		ClientCAFile: p.clientCA,
		CACertsPEM:   p.caPEM,
		Routes:       routes,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		select {
		case err := <-s.Failed():
			t.Errorf("Failed() after Stop: %v", err)
		default:
		}
	})
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	return s
}

func (p *pki) tlsConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.caPool, ServerName: "127.0.0.1", Certificates: certs}
}

// client speaks HTTP/1.1 only, or HTTP/2 if h2.
func (p *pki) client(h2 bool, certs ...tls.Certificate) *http.Client {
	tr := &http.Transport{TLSClientConfig: p.tlsConfig(certs...)}
	tr.Protocols = new(http.Protocols)
	if h2 {
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func url(s *Supervisor, path string) string { return "https://" + s.Addr().String() + path }

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestPingAndCACerts(t *testing.T) {
	p := newPKI(t)
	s := start(t, p, nil)
	for _, h2 := range []bool{false, true} {
		c := p.client(h2)
		resp, body := get(t, c, url(s, "/ping"))
		if resp.StatusCode != http.StatusOK || body != "pong" {
			t.Errorf("h2=%v /ping: %d %q, want 200 pong", h2, resp.StatusCode, body)
		}
		resp, body = get(t, c, url(s, "/cacerts"))
		if resp.StatusCode != http.StatusOK || body != string(p.caPEM) {
			t.Errorf("h2=%v /cacerts: %d %q, want the CA PEM", h2, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("/cacerts content type %q", ct)
		}
	}
	resp, err := p.client(false).Post(url(s, "/ping"), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /ping: %d, want 405", resp.StatusCode)
	}
}

func TestNotReadyBeforeSetAPIServer(t *testing.T) {
	p := newPKI(t)
	s := start(t, p, nil)
	resp, body := get(t, p.client(false), url(s, "/api/v1/namespaces"))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	if strings.TrimSpace(body) != "apiserver not ready" {
		t.Errorf("body %q", body)
	}

	s.SetAPIServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "api") }))
	if _, body := get(t, p.client(false), url(s, "/api")); body != "api" {
		t.Errorf("after SetAPIServer: %q", body)
	}
	s.SetAPIServer(nil)
	if resp, _ := get(t, p.client(false), url(s, "/api")); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after SetAPIServer(nil): %d, want 503", resp.StatusCode)
	}
}

type seen struct {
	path  string
	proto int
	peers []*x509.Certificate
	auth  string
}

func TestAPIServerSeesClientCertAndToken(t *testing.T) {
	p := newPKI(t)
	s := start(t, p, nil)
	got := make(chan seen, 1)
	s.SetAPIServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := seen{path: r.URL.RequestURI(), proto: r.ProtoMajor, auth: r.Header.Get("Authorization")}
		if r.TLS != nil {
			v.peers = r.TLS.PeerCertificates
		}
		got <- v
		_, _ = io.WriteString(w, "ok")
	}))

	for _, h2 := range []bool{false, true} {
		get(t, p.client(h2, p.clientCert), url(s, "/api/v1/pods?watch=1"))
		v := <-got
		if v.path != "/api/v1/pods?watch=1" {
			t.Errorf("h2=%v path %q", h2, v.path)
		}
		if len(v.peers) != 1 || !v.peers[0].Equal(p.clientLeaf) {
			t.Errorf("h2=%v peer certificates %v, want the client cert", h2, v.peers)
		}

		get(t, p.client(h2), url(s, "/api"), "Authorization", "Bearer abc.def")
		v = <-got
		if len(v.peers) != 0 || v.auth != "Bearer abc.def" {
			t.Errorf("h2=%v token request: peers %d auth %q", h2, len(v.peers), v.auth)
		}
	}

	// A certificate from a CA the supervisor does not hint at is not
	// rejected in the handshake; Go clients just do not send it.
	get(t, p.client(false, p.strangeCert), url(s, "/api"))
	if v := <-got; len(v.peers) != 0 {
		t.Errorf("untrusted cert was sent: %v", v.peers)
	}
	// A client that sends it anyway still reaches the apiserver, which
	// decides.
	strange := p.tlsConfig()
	strange.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &p.strangeCert, nil }
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: strange}, Timeout: 10 * time.Second}
	if resp, _ := get(t, c, url(s, "/api")); resp.StatusCode != http.StatusOK {
		t.Errorf("untrusted cert sent anyway: %d", resp.StatusCode)
	}
	if v := <-got; len(v.peers) != 1 {
		t.Errorf("untrusted cert sent anyway: apiserver saw %d certs", len(v.peers))
	}
}

func TestHTTP2Negotiated(t *testing.T) {
	p := newPKI(t)
	s := start(t, p, nil)
	for _, h2 := range []bool{false, true} {
		resp, _ := get(t, p.client(h2), url(s, "/ping"))
		want := 1
		if h2 {
			want = 2
		}
		if resp.ProtoMajor != want {
			t.Errorf("asked h2=%v, got %s", h2, resp.Proto)
		}
	}
	conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: p.caPool, ServerName: "127.0.0.1", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if np := conn.ConnectionState().NegotiatedProtocol; np != "h2" {
		t.Errorf("ALPN %q, want h2", np)
	}
	if v := conn.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Errorf("TLS version %x", v)
	}
}

func TestTLSMinVersion(t *testing.T) {
	p := newPKI(t)
	s := start(t, p, nil)
	_, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: p.caPool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
}

func TestStreamingIsIncremental(t *testing.T) {
	p := newPKI(t)
	s := start(t, p, nil)
	release := make(chan struct{})
	done := make(chan struct{}, 1)
	s.SetAPIServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		f := w.(http.Flusher)
		w.Header().Set("Content-Type", "application/json")
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "event-%d\n", i)
			f.Flush()
			if i == 0 {
				// Hold the stream open until the client has seen the
				// first event: proves it was not buffered to the end.
				select {
				case <-release:
				case <-time.After(10 * time.Second):
					return
				}
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}))
	for _, h2 := range []bool{false, true} {
		resp, err := p.client(h2).Get(url(s, "/api/v1/pods?watch=true"))
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		line, err := br.ReadString('\n')
		if err != nil || line != "event-0\n" {
			t.Fatalf("h2=%v first chunk %q %v", h2, line, err)
		}
		select {
		case <-done:
			t.Fatalf("h2=%v handler finished before the client read the first chunk", h2)
		default:
		}
		release <- struct{}{}
		rest, err := io.ReadAll(br)
		resp.Body.Close()
		if err != nil || string(rest) != "event-1\nevent-2\n" {
			t.Errorf("h2=%v rest %q %v", h2, rest, err)
		}
		<-done
	}
}

func TestUpgradeHijack(t *testing.T) {
	p := newPKI(t)
	s := start(t, p, nil)
	s.SetAPIServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Connection"), "Upgrade") || r.Header.Get("Upgrade") != "SPDY/3.1" {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		if r.TLS == nil || len(r.TLS.PeerCertificates) != 1 {
			http.Error(w, "want client cert", http.StatusUnauthorized)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n")
		_ = brw.Flush()
		buf := make([]byte, 64)
		for {
			n, err := brw.Read(buf)
			if n > 0 {
				if _, werr := conn.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}))

	// Clients that upgrade (kubectl exec, port-forward) only offer http/1.1.
	cfg := p.tlsConfig(p.clientCert)
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", s.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodPost, url(s, "/api/v1/namespaces/default/pods/p/exec?command=sh"), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d %q, want 101", resp.StatusCode, b)
	}
	for _, msg := range []string{"hello", "again"} {
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Errorf("echo %q, want %q", got, msg)
		}
	}
}

func TestExtraRoutes(t *testing.T) {
	p := newPKI(t)
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, name) })
	}
	s := start(t, p, map[string]http.Handler{
		"/v1-skiff":                     named("skiff"),
		"/v1-skiff/serving-kubelet.crt": named("kubelet"),
		"/ping":                         named("not-ping"),
	})
	s.SetAPIServer(named("api"))
	c := p.client(false)
	for path, want := range map[string]string{
		"/v1-skiff":                     "skiff",
		"/v1-skiff/config":              "skiff",
		"/v1-skiff/serving-kubelet.crt": "kubelet",
		"/v1-skiffx":                    "api",
		"/ping":                         "pong",
		"/api/v1":                       "api",
	} {
		if _, body := get(t, c, url(s, path)); body != want {
			t.Errorf("%s served by %q, want %q", path, body, want)
		}
	}
}

func TestPortInUse(t *testing.T) {
	p := newPKI(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	s := New(Config{BindAddress: "127.0.0.1", Port: port, CertFile: p.certFile, KeyFile: p.keyFile})
	err = s.Start(context.Background())
	if err == nil {
		_ = s.Stop(context.Background())
		t.Fatal("Start succeeded on a taken port")
	}
	want := "port " + strconv.Itoa(port) + " on 127.0.0.1 is already in use; stop what is using it or choose another with --https-listen-port"
	if err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error does not wrap EADDRINUSE: %v", err)
	}
}

func TestBadCertificate(t *testing.T) {
	s := New(Config{BindAddress: "127.0.0.1", CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"})
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "serving certificate") {
		t.Errorf("Start with missing cert: %v", err)
	}
	if s.Addr() != nil {
		t.Error("Addr set after failed Start")
	}
}

func TestIPv6Loopback(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	p := newPKI(t)
	s := New(Config{BindAddress: "::1", CertFile: p.certFile, KeyFile: p.keyFile})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	cfg := &tls.Config{RootCAs: p.caPool, ServerName: "::1"}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	if _, body := get(t, c, "https://"+s.Addr().String()+"/ping"); body != "pong" {
		t.Errorf("/ping over IPv6: %q", body)
	}
}

func TestStopEndsServing(t *testing.T) {
	p := newPKI(t)
	s := New(Config{BindAddress: "127.0.0.1", CertFile: p.certFile, KeyFile: p.keyFile})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	hanging := make(chan struct{})
	s.SetAPIServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		close(hanging)
		<-r.Context().Done()
	}))
	c := p.client(false)
	if _, body := get(t, c, "https://"+addr+"/ping"); body != "pong" {
		t.Fatalf("/ping: %q", body)
	}
	// A long-running request (like a watch) must not hold Stop past its
	// deadline.
	go func() {
		if resp, err := c.Get("https://" + addr + "/api/v1/pods?watch=1"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-hanging

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Error("still accepting connections after Stop")
	}
	select {
	case err := <-s.Failed():
		t.Errorf("Failed() after Stop: %v", err)
	default:
	}
	if err := s.Ready(context.Background()); err == nil {
		t.Error("Ready after Stop returned nil")
	}
}

func TestReadyWaitsForStart(t *testing.T) {
	s := New(Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Ready(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ready before Start: %v", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
}

func TestPackageDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil || !strings.HasPrefix(f.Doc.Text(), "Package supervisor ") {
		t.Error("doc.go has no package doc comment")
	}
}
