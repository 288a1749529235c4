package tunnel

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/server/egressselector"
)

// TestEgressConfigDialsThroughTheTunnel loads the written configuration
// with the apiserver's own loader and validation, builds the apiserver's
// egress selector from it, and dials the "kubelet" with the dialer the
// apiserver would use for the cluster egress: through the CONNECT socket,
// the Server and node-a's tunnel.
func TestEgressConfigDialsThroughTheTunnel(t *testing.T) {
	h := newHarness(t)
	h.client("node-a", h.kubeletOnly())
	waitFor(t, "the tunnel", func() bool { return h.srv.Connected("node-a") })

	path := filepath.Join(t.TempDir(), "server", "egress-selector.yaml")
	if err := WriteEgressConfig(path, h.socket); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{"apiVersion: apiserver.k8s.io/v1beta1", "kind: EgressSelectorConfiguration", "name: cluster", "proxyProtocol: HTTPConnect", "udsName: " + h.socket} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("config lacks %q:\n%s", want, raw)
		}
	}

	cfg, err := egressselector.ReadEgressSelectorConfiguration(path)
	if err != nil {
		t.Fatalf("the apiserver's loader refused the config: %v\n%s", err, raw)
	}
	if errs := egressselector.ValidateEgressSelectorConfiguration(cfg); len(errs) > 0 {
		t.Fatalf("the apiserver's validation refused the config: %v", errs.ToAggregate())
	}
	sel, err := egressselector.NewEgressSelector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dial, err := sel.Lookup(egressselector.Cluster.AsNetworkContext())
	if err != nil || dial == nil {
		t.Fatalf("no cluster dialer: %v", err)
	}

	conn, err := dial(dialCtx(t), "tcp", h.echo)
	if err != nil {
		t.Fatalf("dial through the egress socket: %v", err)
	}
	echoOnce(t, conn, "kubectl logs")
	conn.Close()
	if n := h.session("node-a").opened.Load(); n != 1 {
		t.Errorf("%d streams through the tunnel, want 1", n)
	}

	// A refusal reaches the apiserver as the reason of the status line.
	_, err = dial(dialCtx(t), "tcp", net.JoinHostPort("127.0.1.1", strconv.Itoa(h.echoPort)))
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "refused to dial") {
		t.Errorf("refused dial through the egress socket: %v", err)
	}
	t.Logf("a refusal as the apiserver reports it: %v", err)
	t.Logf("the config:\n%s", raw)

	// Control-plane egress is not configured, so it stays direct.
	if d, err := sel.Lookup(egressselector.ControlPlane.AsNetworkContext()); err != nil || d != nil {
		t.Errorf("controlplane egress: %v, %v", d != nil, err)
	}
}

func TestEgressSocketIsPrivate(t *testing.T) {
	h := newHarness(t)
	fi, err := os.Stat(h.socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(h.socket), ".*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// Anything but CONNECT is refused.
	c, err := net.Dial("unix", h.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s", resp.Status)
	}

	// Stop removes the socket.
	if err := h.srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(h.socket); !os.IsNotExist(err) {
		t.Errorf("socket still there after Stop: %v", err)
	}
}

func TestEgressSocketStartChecks(t *testing.T) {
	dir, err := os.MkdirTemp("", "tunnel")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "egress.sock")

	// A stale socket from a crashed run is replaced.
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s := NewServer(ServerConfig{EgressSocket: sock})
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("stale socket: %v", err)
	}

	// A socket in use is another server's: refused, and left alone.
	other := NewServer(ServerConfig{EgressSocket: sock})
	if err := other.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("socket in use: %v", err)
	}
	if c, err := net.Dial("unix", sock); err != nil {
		t.Errorf("the first server's socket was disturbed: %v", err)
	} else {
		c.Close()
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Not a socket: refused, not deleted.
	if err := os.WriteFile(sock, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = NewServer(ServerConfig{EgressSocket: sock})
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
	if b, _ := os.ReadFile(sock); string(b) != "data" {
		t.Error("the regular file was replaced")
	}
}

func TestWriteEgressConfigNeedsASocket(t *testing.T) {
	if err := WriteEgressConfig(filepath.Join(t.TempDir(), "e.yaml"), ""); err == nil {
		t.Error("no error without a socket")
	}
}
