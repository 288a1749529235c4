package loadbalancer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// backend is a server behind the load balancer: it says its name on every
// connection, then echoes what it reads until the client half-closes, then
// closes.
type backend struct {
	name string
	addr string
	l    net.Listener

	mu    sync.Mutex
	conns []net.Conn
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.listen(t, "127.0.0.1:0")
	return b
}

func (b *backend) listen(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b.l, b.addr = l, l.Addr().String()
	t.Cleanup(func() { b.close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			go func() {
				defer c.Close()
				if _, err := io.WriteString(c, b.name+"\n"); err != nil {
					return
				}
				io.Copy(c, c)
			}()
		}
	}()
}

// close stops listening and drops open connections: the server is gone.
func (b *backend) close() {
	b.l.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
	b.conns = nil
}

func newLB(t *testing.T, cfg Config) *LoadBalancer {
	t.Helper()
	lb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := lb.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := lb.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := lb.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return lb
}

// connect dials the load balancer and returns the connection and the name
// of the backend that answered.
func connect(t *testing.T, lb *LoadBalancer) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", lb.Address(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	name, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the backend's name through the load balancer: %v", err)
	}
	return c, r, strings.TrimSpace(name)
}

func TestURL(t *testing.T) {
	a := startBackend(t, "a")
	lb := newLB(t, Config{Server: "https://" + a.addr})
	_, port, _ := net.SplitHostPort(lb.Address())
	if want := "https://127.0.0.1:" + port; lb.URL() != want || port == "0" {
		t.Errorf("URL() = %q, want %q", lb.URL(), want)
	}
	if got := lb.Servers(); !slices.Equal(got, []string{a.addr}) {
		t.Errorf("Servers() = %q, want only %s", got, a.addr)
	}
}

func TestSplicesBothWays(t *testing.T) {
	a := startBackend(t, "a")
	lb := newLB(t, Config{Server: a.addr})
	c, r, name := connect(t, lb)
	if name != "a" {
		t.Fatalf("answered by %q, want a", name)
	}
	// A payload larger than any buffer, written while the reply is read, then
	// a half-close: the echo must come back whole and end cleanly.
	payload := make([]byte, 4<<20)
	rand.Read(payload)
	go func() {
		c.Write(payload)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("echo has %d bytes, want the %d sent", len(got), len(payload))
	}
}

func TestFailsOverAndRemembers(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	lb := newLB(t, Config{Server: a.addr, DialTimeout: time.Second})
	lb.SetServers([]string{a.addr, b.addr})

	open, _, name := connect(t, lb)
	if name != "a" {
		t.Fatalf("first connection answered by %q, want a (the current server)", name)
	}
	a.close()
	// The client of the dropped connection sees it end.
	if _, err := io.ReadAll(open); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Errorf("reading the connection whose server went away: %v", err)
	}
	if _, _, name := connect(t, lb); name != "b" {
		t.Fatalf("after a went away, answered by %q, want b", name)
	}
	if got := lb.Servers(); !slices.Equal(got, []string{b.addr, a.addr}) {
		t.Errorf("Servers() = %q, want b first and a at the back", got)
	}
	// a comes back: b, which works, stays the current server.
	a.listen(t, a.addr)
	for range 3 {
		if _, _, name := connect(t, lb); name != "b" {
			t.Fatalf("with a back, answered by %q, want b (the one that worked)", name)
		}
	}
	// b goes away: back to a.
	b.close()
	if _, _, name := connect(t, lb); name != "a" {
		t.Fatalf("after b went away, answered by %q, want a", name)
	}
}

func TestNoServerClosesTheClient(t *testing.T) {
	a := startBackend(t, "a")
	lb := newLB(t, Config{Server: a.addr, DialTimeout: time.Second})
	a.close()
	c, err := net.Dial("tcp", lb.Address())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read = %d, %v; want the connection closed at once", n, err)
	}
}

func TestSetServers(t *testing.T) {
	lb, err := New(Config{Server: "https://s.example:6443"})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		set  []string
		want []string
	}{
		{"the --server address is kept last", []string{"10.0.0.1:6443", "10.0.0.2:6443"},
			[]string{"10.0.0.1:6443", "10.0.0.2:6443", "s.example:6443"}},
		{"duplicates, blanks and malformed entries left out", []string{"10.0.0.2:6443", " ", "10.0.0.2:6443", "nonsense", "https://x:1", "10.0.0.3:6443"},
			[]string{"10.0.0.2:6443", "10.0.0.3:6443", "s.example:6443"}},
		// 10.0.0.2, the current server, is no longer listed: the new order holds.
		{"listed --server keeps its place", []string{"s.example:6443", "10.0.0.4:6443"},
			[]string{"s.example:6443", "10.0.0.4:6443"}},
		{"empty list leaves --server", nil, []string{"s.example:6443"}},
	}
	for _, s := range steps {
		lb.SetServers(s.set)
		if got := lb.Servers(); !slices.Equal(got, s.want) {
			t.Errorf("%s: SetServers(%q) gives %q, want %q", s.name, s.set, got, s.want)
		}
	}

	// The current server stays first while it is listed.
	lb.SetServers([]string{"10.0.0.1:6443", "10.0.0.2:6443"})
	lb.demote("10.0.0.1:6443") // as after a failed dial
	lb.SetServers([]string{"10.0.0.1:6443", "10.0.0.2:6443", "10.0.0.3:6443"})
	if got, want := lb.Servers(), []string{"10.0.0.2:6443", "10.0.0.1:6443", "10.0.0.3:6443", "s.example:6443"}; !slices.Equal(got, want) {
		t.Errorf("after a failover and a new list: %q, want %q", got, want)
	}
}

func TestStopClosesOpenConnections(t *testing.T) {
	a := startBackend(t, "a")
	lb, err := New(Config{Server: a.addr})
	if err != nil {
		t.Fatal(err)
	}
	if err := lb.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var open []net.Conn
	for range 3 {
		c, _, _ := connect(t, lb)
		open = append(open, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	if err := lb.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Stop took %v with open connections", took)
	}
	for i, c := range open {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("connection %d still open after Stop", i)
		}
	}
	if c, err := net.DialTimeout("tcp", lb.Address(), time.Second); err == nil {
		c.Close()
		t.Error("the load balancer still accepts connections after Stop")
	}
	if err := lb.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestContextEndStops(t *testing.T) {
	a := startBackend(t, "a")
	lb, err := New(Config{Server: a.addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := lb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c, _, _ := connect(t, lb)
	cancel()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("connection still open after the context ended")
	}
	stopCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := lb.Stop(stopCtx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func TestStartOnBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	lb, err := New(Config{Server: "10.0.0.1:6443", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	err = lb.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--lb-server-port") {
		t.Errorf("Start on a busy port: %v; want an error naming --lb-server-port", err)
	}
}

func TestNewChecksServer(t *testing.T) {
	for in, want := range map[string]string{
		"https://s.example:6443": "s.example:6443",
		"https://s.example":      "s.example:443",
		"https://[fd00::1]:6443": "[fd00::1]:6443",
		"10.0.0.1:6443":          "10.0.0.1:6443",
		" 10.0.0.1:6443\n":       "10.0.0.1:6443",
	} {
		lb, err := New(Config{Server: in})
		if err != nil {
			t.Errorf("New(%q): %v", in, err)
			continue
		}
		if got := lb.Servers(); !slices.Equal(got, []string{want}) {
			t.Errorf("New(%q) serves %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"", "s.example", "https://", "ftp://s.example", ":6443", "s:0", "s:http"} {
		if _, err := New(Config{Server: in}); err == nil {
			t.Errorf("New(%q) succeeded", in)
		}
	}
	if _, err := New(Config{Server: "s:1", Port: 70000}); err == nil {
		t.Error("New with port 70000 succeeded")
	}
}

func TestStateFileKeepsTheList(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agent", "lb.json")
	first, err := New(Config{Server: "https://s.example:6443", StateFile: file})
	if err != nil {
		t.Fatal(err)
	}
	first.SetServers([]string{"10.0.0.1:6443", "10.0.0.2:6443"})
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}

	// Same --server: the list is taken up at start.
	again := newLB(t, Config{Server: "https://s.example:6443", StateFile: file})
	if got, want := again.Servers(), []string{"10.0.0.1:6443", "10.0.0.2:6443", "s.example:6443"}; !slices.Equal(got, want) {
		t.Errorf("after a restart: %q, want %q", got, want)
	}
	// Another --server: another cluster's list is not.
	other := newLB(t, Config{Server: "https://t.example:6443", StateFile: file})
	if got, want := other.Servers(), []string{"t.example:6443"}; !slices.Equal(got, want) {
		t.Errorf("with another --server: %q, want %q", got, want)
	}
	// A damaged file is ignored.
	if err := os.WriteFile(file, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := newLB(t, Config{Server: "https://s.example:6443", StateFile: file})
	if got, want := broken.Servers(), []string{"s.example:6443"}; !slices.Equal(got, want) {
		t.Errorf("with a damaged file: %q, want %q", got, want)
	}
}
