package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// These tests run the real thing on loopback sockets: an HTTPS server whose
// handler calls ServeTunnel, Clients connecting to it, and a TCP echo
// server standing in for the kubelet. The fake Node says the echo server
// is node-a's kubelet (InternalIP 127.0.0.1, kubelet port = the echo
// port) and that 127.0.1.0/24 is its pod CIDR.

const testToken = "Bearer test-token"

type harness struct {
	t        *testing.T
	srv      *Server
	ts       *httptest.Server
	echo     string // the "kubelet": host:port
	echoPort int
	socket   string
	cs       *fake.Clientset
	accepted atomic.Int64 // connections the echo server took
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	h.echo = ln.Addr().String()
	h.echoPort = ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.accepted.Add(1)
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()

	node := testNode("node-a", int32(h.echoPort), []string{"127.0.1.0/24"}, internalIP("127.0.0.1"))
	cs := fake.NewClientset(node)
	h.cs = cs

	// A short path: unix socket names are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "tunnel")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h.socket = filepath.Join(dir, "egress.sock")
	h.srv = NewServer(ServerConfig{Client: cs, EgressSocket: h.socket})
	if err := h.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.srv.Stop(context.Background()); err != nil {
			t.Errorf("stopping the server: %v", err)
		}
	})
	if err := h.srv.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}

	h.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Stands in for the lead's join handler: authenticate, name the node.
		if r.Header.Get("Authorization") != testToken {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		h.srv.ServeTunnel(w, r, r.Header.Get("Skiff-Node-Name"))
	}))
	h.ts.EnableHTTP2 = true // as the supervisor: the client must still get HTTP/1.1
	h.ts.StartTLS()
	t.Cleanup(h.ts.Close)

	select {
	case <-h.srv.synced:
	case <-time.After(10 * time.Second):
		t.Fatal("the Node cache did not sync")
	}
	return h
}

// client starts a Client for node with the given rule.
func (h *harness) client(node string, allow func(network, addr string) bool, tweak ...func(*Client)) *Client {
	h.t.Helper()
	tc := h.ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	c := NewClient(ClientConfig{
		URL:    h.ts.URL + "/v1-skiff/connect",
		TLS:    tc,
		Header: http.Header{"Authorization": {testToken}, "Skiff-Node-Name": {node}},
		Allow:  allow,
	})
	c.minBackoff, c.maxBackoff = 20*time.Millisecond, 100*time.Millisecond
	for _, f := range tweak {
		f(c)
	}
	if err := c.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = c.Stop(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		h.t.Fatalf("client not ready: %v", err)
	}
	return c
}

// kubeletOnly is node-a's rule before it has a pod CIDR.
func (h *harness) kubeletOnly() func(string, string) bool {
	return NodeAllow([]net.IP{net.ParseIP("127.0.0.1")}, h.echoPort, nil)
}

func (h *harness) session(node string) *session {
	h.srv.mu.Lock()
	defer h.srv.mu.Unlock()
	return h.srv.sessions[node]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func echoOnce(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
}

func dialCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDialGoesThroughTheTunnelThenFallsBackToDirect(t *testing.T) {
	h := newHarness(t)
	c := h.client("node-a", h.kubeletOnly())
	waitFor(t, "the tunnel on the server", func() bool { return h.srv.Connected("node-a") })

	conn, err := h.srv.Dial(dialCtx(t), "tcp", h.echo)
	if err != nil {
		t.Fatalf("dial through the tunnel: %v", err)
	}
	echoOnce(t, conn, "hello kubelet")
	if got := conn.RemoteAddr().String(); got != h.echo {
		t.Errorf("RemoteAddr %s, want the target %s", got, h.echo)
	}
	sess := h.session("node-a")
	if n := sess.opened.Load(); n != 1 {
		t.Errorf("%d streams opened on node-a's tunnel, want 1", n)
	}
	conn.Close()

	// Without the tunnel the same address is dialled directly.
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tunnel to go away", func() bool { return !h.srv.Connected("node-a") })
	conn, err = h.srv.Dial(dialCtx(t), "tcp", h.echo)
	if err != nil {
		t.Fatalf("direct dial: %v", err)
	}
	defer conn.Close()
	echoOnce(t, conn, "direct")
	if n := sess.opened.Load(); n != 1 {
		t.Errorf("the direct dial used the old tunnel (%d streams)", n)
	}
	if _, ok := conn.(*net.TCPConn); !ok {
		t.Errorf("direct dial returned %T, want *net.TCPConn", conn)
	}
}

func TestAgentRefusesWhatItsRuleDoesNotAllow(t *testing.T) {
	h := newHarness(t)
	h.client("node-a", h.kubeletOnly())
	waitFor(t, "the tunnel on the server", func() bool { return h.srv.Connected("node-a") })

	// 127.0.1.1 is in node-a's pod CIDR per its Node, so the server sends it
	// through the tunnel; the agent does not know a pod CIDR yet and
	// refuses. The echo server would have answered a direct dial at that
	// address (127/8 is all loopback), so this also shows the tunnel was used.
	target := net.JoinHostPort("127.0.1.1", strconv.Itoa(h.echoPort))
	_, err := h.srv.Dial(dialCtx(t), "tcp", target)
	var de *DialError
	if !errors.As(err, &de) || !de.Refused || de.Node != "node-a" {
		t.Fatalf("dial %s: %v, want a refusal by node-a", target, err)
	}
	if !strings.Contains(err.Error(), "not allowed") || !strings.Contains(err.Error(), "kubelet port") {
		t.Errorf("error does not explain the refusal: %v", err)
	}
	if h.accepted.Load() != 0 {
		t.Error("the refused target was dialled")
	}
}

func TestAgentDialFailureIsAnErrorNotAnEOF(t *testing.T) {
	h := newHarness(t)
	_, pods, _ := net.ParseCIDR("127.0.1.0/24")
	h.client("node-a", NodeAllow([]net.IP{net.ParseIP("127.0.0.1")}, h.echoPort,
		func() []*net.IPNet { return []*net.IPNet{pods} }))
	waitFor(t, "the tunnel on the server", func() bool { return h.srv.Connected("node-a") })

	// Allowed (a "pod" address) but nothing listens there.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	target := net.JoinHostPort("127.0.1.1", strconv.Itoa(port))
	_, err = h.srv.Dial(dialCtx(t), "tcp", target)
	var de *DialError
	if !errors.As(err, &de) || de.Refused {
		t.Fatalf("dial %s: %v, want the agent's dial error", target, err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error does not carry the agent's dial error: %v", err)
	}

	// The same rule lets a pod address through: 127.0.1.1 is loopback on
	// Linux and the echo server listens on 127.0.0.1 only, so dial a
	// listener on 127.0.1.1 instead.
	pod, err := net.Listen("tcp", "127.0.1.1:0")
	if err != nil {
		t.Fatalf("cannot listen on 127.0.1.1 (all of 127/8 is loopback on Linux): %v", err)
	}
	defer pod.Close()
	go func() {
		c, err := pod.Accept()
		if err == nil {
			_, _ = io.Copy(c, c)
			c.Close()
		}
	}()
	conn, err := h.srv.Dial(dialCtx(t), "tcp", pod.Addr().String())
	if err != nil {
		t.Fatalf("dial the pod: %v", err)
	}
	defer conn.Close()
	echoOnce(t, conn, "hello pod")
	if n := h.session("node-a").opened.Load(); n != 2 {
		t.Errorf("%d streams, want 2", n)
	}
}

func TestNewerTunnelReplacesTheOlder(t *testing.T) {
	h := newHarness(t)
	first := h.client("node-a", h.kubeletOnly(), func(c *Client) {
		// Keep the replaced client from coming straight back and
		// replacing the newer one in turn.
		c.minBackoff, c.maxBackoff = time.Hour, time.Hour
	})
	waitFor(t, "the first tunnel", func() bool { return h.session("node-a") != nil })
	old := h.session("node-a")

	second := h.client("node-a", h.kubeletOnly())
	waitFor(t, "the second tunnel", func() bool { s := h.session("node-a"); return s != nil && s != old })
	waitFor(t, "the first tunnel to close", old.mux.IsClosed)
	if first.sessions.Load() != 1 || second.sessions.Load() != 1 {
		t.Errorf("sessions: first %d, second %d", first.sessions.Load(), second.sessions.Load())
	}

	conn, err := h.srv.Dial(dialCtx(t), "tcp", h.echo)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echoOnce(t, conn, "via the newer tunnel")
	if n := h.session("node-a").opened.Load(); n != 1 {
		t.Errorf("newer tunnel opened %d streams, want 1", n)
	}
}

func TestNodesClaimingOneAddress(t *testing.T) {
	h := newHarness(t)
	// node-b reports node-a's address and kubelet port, as two agents on
	// separate private networks might.
	b := testNode("node-b", int32(h.echoPort), []string{"127.0.2.0/24"}, internalIP("127.0.0.1"))
	if _, err := h.cs.CoreV1().Nodes().Create(context.Background(), b, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node-b in the cache", func() bool { _, err := h.srv.nodes.Get("node-b"); return err == nil })
	ca := h.client("node-a", h.kubeletOnly())
	h.client("node-b", h.kubeletOnly())
	waitFor(t, "both tunnels", func() bool { return h.srv.Connected("node-a") && h.srv.Connected("node-b") })

	dialEcho := func() {
		t.Helper()
		conn, err := h.srv.Dial(dialCtx(t), "tcp", h.echo)
		if err != nil {
			t.Fatal(err)
		}
		echoOnce(t, conn, "which node?")
		conn.Close()
	}
	// The choice is stable: the smaller name.
	dialEcho()
	dialEcho()
	sa, sb := h.session("node-a"), h.session("node-b")
	if sa.opened.Load() != 2 || sb.opened.Load() != 0 {
		t.Errorf("streams: node-a %d, node-b %d; want 2, 0", sa.opened.Load(), sb.opened.Load())
	}
	// Without node-a's tunnel, node-b's is used.
	if err := ca.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node-a's tunnel to go", func() bool { return !h.srv.Connected("node-a") })
	dialEcho()
	if sb.opened.Load() != 1 {
		t.Errorf("node-b opened %d streams, want 1", sb.opened.Load())
	}
}

func TestClientReconnectsWhenTheServerClosesTheTunnel(t *testing.T) {
	h := newHarness(t)
	c := h.client("node-a", h.kubeletOnly())
	waitFor(t, "the tunnel", func() bool { return h.session("node-a") != nil })
	old := h.session("node-a")
	_ = old.mux.Close()

	waitFor(t, "a new tunnel", func() bool { s := h.session("node-a"); return s != nil && s != old })
	waitFor(t, "the client to count it", func() bool { return c.sessions.Load() == 2 })
	conn, err := h.srv.Dial(dialCtx(t), "tcp", h.echo)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echoOnce(t, conn, "after reconnecting")
}

func TestStopClosesConnectionsThroughTheTunnel(t *testing.T) {
	h := newHarness(t)
	c := h.client("node-a", h.kubeletOnly())
	waitFor(t, "the tunnel", func() bool { return h.srv.Connected("node-a") })
	conn, err := h.srv.Dial(dialCtx(t), "tcp", h.echo)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echoOnce(t, conn, "x")
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after the agent stopped succeeded")
	} else if errors.Is(err, yamux.ErrTimeout) {
		t.Fatalf("read still blocked after the agent stopped: %v", err)
	}
}

func TestServerRefusals(t *testing.T) {
	h := newHarness(t)

	// A wrong token: the client reports the status clearly and keeps
	// trying; Ready does not return.
	c := NewClient(ClientConfig{
		URL:    h.ts.URL + "/v1-skiff/connect",
		TLS:    h.ts.Client().Transport.(*http.Transport).TLSClientConfig,
		Header: http.Header{"Authorization": {"Bearer wrong"}, "Skiff-Node-Name": {"node-a"}},
		Allow:  h.kubeletOnly(),
	})
	u := mustURL(t, c.cfg.URL)
	_, err := c.connectAndServe(context.Background(), u)
	var he *HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "bad token") {
		t.Fatalf("wrong token: %v", err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.Ready(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ready with a refused token: %v", err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A request without the upgrade is told what is expected; one over
	// HTTP/2, which cannot be taken over, that it needs HTTP/1.1.
	get := func(rt http.RoundTripper) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/v1-skiff/connect", nil)
		req.Header.Set("Authorization", testToken)
		req.Header.Set("Skiff-Node-Name", "node-a")
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	h2 := h.ts.Client().Transport.(*http.Transport)
	h1 := h2.Clone()
	h1.ForceAttemptHTTP2 = false
	h1.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	h1.TLSClientConfig.NextProtos = []string{"http/1.1"}
	if code, body := get(h1); code != http.StatusUpgradeRequired || !strings.Contains(body, UpgradeProtocol) {
		t.Errorf("no upgrade: %d %s", code, body)
	}
	if code, body := get(h2); code != http.StatusHTTPVersionNotSupported || !strings.Contains(body, "HTTP/1.1") {
		t.Errorf("HTTP/2: %d %s", code, body)
	}

	// No node name.
	c = NewClient(ClientConfig{
		URL:    h.ts.URL + "/v1-skiff/connect",
		TLS:    h.ts.Client().Transport.(*http.Transport).TLSClientConfig,
		Header: http.Header{"Authorization": {testToken}},
		Allow:  h.kubeletOnly(),
	})
	if _, err := c.connectAndServe(context.Background(), u); !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		t.Errorf("no node name: %v", err)
	}
}

func TestClientConfigChecks(t *testing.T) {
	allow := func(string, string) bool { return true }
	for name, cfg := range map[string]ClientConfig{
		"no Allow":   {URL: "https://127.0.0.1:6444/v1-skiff/connect"},
		"plain http": {URL: "http://127.0.0.1:6444/v1-skiff/connect", Allow: allow},
		"no host":    {URL: "/v1-skiff/connect", Allow: allow},
	} {
		if err := NewClient(cfg).Start(context.Background()); err == nil {
			t.Errorf("%s: started", name)
		}
	}
}

func TestDialWithoutTunnelsOrNodesIsDirect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			_, _ = io.Copy(c, c)
			c.Close()
		}
	}()
	s := NewServer(ServerConfig{}) // no client, no socket
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	conn, err := s.Dial(dialCtx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echoOnce(t, conn, "direct")
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDialHonoursTheContextWhileTheAgentIsSlow(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	defer close(release)
	h.client("node-a", func(network, addr string) bool { <-release; return true })
	waitFor(t, "the tunnel", func() bool { return h.srv.Connected("node-a") })

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := h.srv.Dial(ctx, "tcp", h.echo)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial: %v, want the context's deadline", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("dial returned after %v", d)
	}
}

func TestNodeCacheWaitsForTheAPIServer(t *testing.T) {
	node := testNode("node-a", 10250, nil, internalIP("127.0.0.1"))
	cs := fake.NewClientset(node)
	var fails atomic.Int32
	cs.PrependReactor("list", "nodes", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if fails.Add(1) <= 3 {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	s := NewServer(ServerConfig{Client: cs})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	select {
	case <-s.synced:
	case <-time.After(10 * time.Second):
		t.Fatal("the Node cache never synced")
	}
	if _, err := s.nodes.Get("node-a"); err != nil {
		t.Errorf("node-a not cached: %v", err)
	}
}
