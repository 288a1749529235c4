package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// recorder is an HTTP listener of the test that remembers where each
// request came from.
type recorder struct {
	URL string // http://addr:port

	mu      sync.Mutex
	sources []string // remote IPs, in order
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	host, _, _ := net.SplitHostPort(req.RemoteAddr)
	r.mu.Lock()
	r.sources = append(r.sources, host)
	r.mu.Unlock()
	fmt.Fprintf(w, "seen %s\n", host)
}

func (r *recorder) Sources() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sources...)
}

func serve(t *testing.T, l net.Listener) *recorder {
	r := &recorder{URL: "http://" + l.Addr().String()}
	srv := &http.Server{Handler: r}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return r
}

// hostListener listens on every address of the host, on a free port, and
// is reached at the host's non-loopback address.
func hostListener(t *testing.T, hostIP net.IP) *recorder {
	t.Helper()
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	r := serve(t, l)
	r.URL = fmt.Sprintf("http://%s:%d", hostIP, l.Addr().(*net.TCPAddr).Port)
	return r
}

// outside is a network namespace of this host joined to it by a veth pair
// on a /30 outside every cluster CIDR: a stand-in for the world beyond the
// node that keeps all traffic on this machine. Packets from pods to it are
// routed (FORWARD, POSTROUTING), as to a real outside address, so they are
// masqueraded to HostSide.
type outside struct {
	NS       string
	HostSide net.IP // the host's address on the link
	FarSide  net.IP // the namespace's address
}

// Test-net addresses (RFC 2544 benchmarking range), far from 10.42/16 and
// 10.43/16.
var outsideNet = [2]string{"198.19.77.1", "198.19.77.2"}

func newOutside(t *testing.T) *outside {
	t.Helper()
	id := rand.IntN(100000)
	o := &outside{
		NS:       fmt.Sprintf("skne2e%d", id),
		HostSide: net.ParseIP(outsideNet[0]).To4(),
		FarSide:  net.ParseIP(outsideNet[1]).To4(),
	}
	hostVeth, farVeth := fmt.Sprintf("skneh%d", id), fmt.Sprintf("skneo%d", id)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", o.NS)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", o.NS).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", o.NS, err, out)
		}
	})
	ip("link", "add", hostVeth, "type", "veth", "peer", "name", farVeth, "netns", o.NS)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", hostVeth).Run() })
	ip("addr", "add", outsideNet[0]+"/30", "dev", hostVeth)
	ip("link", "set", hostVeth, "up")
	ip("-n", o.NS, "addr", "add", outsideNet[1]+"/30", "dev", farVeth)
	ip("-n", o.NS, "link", "set", farVeth, "up")
	ip("-n", o.NS, "link", "set", "lo", "up")
	return o
}

// Listen serves HTTP inside the namespace, at FarSide. The socket is made
// in the namespace by one locked thread; it stays there afterwards.
func (o *outside) Listen(t *testing.T) *recorder {
	t.Helper()
	l, err := listenIn(o.NS, "tcp4", net.JoinHostPort(o.FarSide.String(), "0"))
	if err != nil {
		t.Fatalf("listening in netns %s: %v", o.NS, err)
	}
	return serve(t, l)
}

func listenIn(ns, network, addr string) (net.Listener, error) {
	var l net.Listener
	err := inNetns(ns, func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	}, func() {
		if l != nil {
			l.Close()
		}
	})
	return l, err
}

// dialIn dials addr from inside the network namespace ns; the socket stays
// there afterwards.
func dialIn(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	}, func() {
		if c != nil {
			c.Close()
		}
	})
	return c, err
}

// inNetns runs open (which opens a socket) on one locked thread moved into
// the network namespace ns, and moves the thread back. A socket belongs to
// the namespace it was made in. When the thread cannot return, undo closes
// what open opened and the thread stays locked, so that it ends with the
// goroutine instead of serving others in the wrong namespace.
func inNetns(ns string, open func() error, undo func()) error {
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns: %w", err)
	}
	openErr := open()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		undo()
		return fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return openErr
}
