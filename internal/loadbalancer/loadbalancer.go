package loadbalancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// DefaultPort is where the agent's load balancer listens (k3s's
// --lb-server-port default).
const DefaultPort = 6444

// DefaultDialTimeout bounds one attempt to reach a server. It is short
// because a server that does not answer within it is skipped for the next,
// and the client is waiting meanwhile.
const DefaultDialTimeout = 3 * time.Second

// Config says where the load balancer listens and where it starts.
type Config struct {
	// Server is the address the agent was given: a URL such as
	// https://s.example:6443, or host:port. It is never dropped from the
	// list, so the agent can always fall back to what the user said.
	Server string
	// Port is the loopback port to listen on; 0 picks a free one (tests).
	Port int
	// DialTimeout bounds one connection attempt to one server; zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// StateFile, if set, keeps the list of servers across restarts, so an
	// agent whose --server is down when it starts still finds the others.
	StateFile string
}

// LoadBalancer is the proxy. Build it with New; it is a component.Component.
type LoadBalancer struct {
	fallback    string // host:port of Config.Server
	port        int
	dialTimeout time.Duration
	stateFile   string

	mu       sync.Mutex
	servers  []string // in the order they are tried; the first is the current one
	listener net.Listener
	conns    map[net.Conn]struct{}
	stopped  bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the accept loop and every connection's goroutine

	saveMu sync.Mutex // orders writes of the state file
}

var _ component.Component = (*LoadBalancer)(nil)

// New checks cfg and returns a load balancer whose only server is
// cfg.Server; it listens once started.
func New(cfg Config) (*LoadBalancer, error) {
	addr, err := hostPort(cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("load balancer: server %q: %w", cfg.Server, err)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("load balancer: port %d is out of range; choose a port from 1 to 65535", cfg.Port)
	}
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	return &LoadBalancer{
		fallback:    addr,
		port:        cfg.Port,
		dialTimeout: timeout,
		stateFile:   cfg.StateFile,
		servers:     []string{addr},
		conns:       map[net.Conn]struct{}{},
	}, nil
}

// hostPort turns a server URL (https://host:port, https://host) or a
// host:port into host:port.
func hostPort(server string) (string, error) {
	server = strings.TrimSpace(server)
	if server == "" {
		return "", errors.New("no address given")
	}
	if strings.Contains(server, "://") {
		u, err := url.Parse(server)
		if err != nil {
			return "", fmt.Errorf("not a URL: %w", err)
		}
		if u.Hostname() == "" {
			return "", errors.New("the URL names no host")
		}
		if u.Port() != "" {
			return u.Host, nil
		}
		switch u.Scheme {
		case "https":
			return net.JoinHostPort(u.Hostname(), "443"), nil
		case "http":
			return net.JoinHostPort(u.Hostname(), "80"), nil
		}
		return "", fmt.Errorf("the URL names no port and %q has no default one", u.Scheme)
	}
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		return "", fmt.Errorf("want a URL (https://host:port) or host:port: %w", err)
	}
	if host == "" {
		return "", errors.New("no host before the port")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return server, nil
}

// Name implements component.Component.
func (lb *LoadBalancer) Name() string { return "load-balancer" }

// Start listens on 127.0.0.1 and serves connections until Stop or the end of
// ctx. A list saved by an earlier run for the same --server is taken up
// again.
func (lb *LoadBalancer) Start(ctx context.Context) error {
	lb.loadState()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(lb.port)))
	if err != nil {
		return fmt.Errorf("listening on 127.0.0.1:%d: %w; free that port or choose another with --lb-server-port", lb.port, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	lb.mu.Lock()
	if lb.stopped {
		lb.mu.Unlock()
		cancel()
		l.Close()
		return errors.New("the load balancer was stopped")
	}
	lb.listener, lb.cancel = l, cancel
	lb.wg.Add(1)
	lb.mu.Unlock()
	go lb.accept(ctx, l)
	go func() {
		// The end of the role's context is a stop, too.
		<-ctx.Done()
		lb.shutdown()
	}()
	klog.InfoS("Load balancer listening", "address", l.Addr().String(), "servers", lb.Servers())
	return nil
}

// Ready implements component.Component: the load balancer serves as soon as
// it listens, which Start has done.
func (lb *LoadBalancer) Ready(context.Context) error { return nil }

// Stop closes the listener and every open connection, and waits (within
// ctx) for their goroutines to end.
func (lb *LoadBalancer) Stop(ctx context.Context) error {
	lb.shutdown()
	done := make(chan struct{})
	go func() {
		lb.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for open connections to close: %w", ctx.Err())
	}
}

func (lb *LoadBalancer) shutdown() {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.stopped {
		return
	}
	lb.stopped = true
	if lb.cancel != nil {
		lb.cancel() // aborts dials under way
	}
	if lb.listener != nil {
		lb.listener.Close()
	}
	for c := range lb.conns {
		c.Close()
	}
}

// URL is what the kubelet, kube-proxy and the tunnel are pointed at:
// https://127.0.0.1:<port>. With Port 0 it is known only after Start.
func (lb *LoadBalancer) URL() string {
	return "https://" + lb.Address()
}

// Address is 127.0.0.1:<port>.
func (lb *LoadBalancer) Address() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.listener != nil {
		return lb.listener.Addr().String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(lb.port))
}

// Servers returns the list in the order the next connection tries it.
func (lb *LoadBalancer) Servers() []string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return slices.Clone(lb.servers)
}

// SetServers replaces the list with addrs (host:port each; empty and
// malformed entries are left out, with a log line). The --server address
// stays in the list, last unless addrs names it. The current server stays
// first while addrs names it, so that a new list does not move new
// connections off a server that works.
func (lb *LoadBalancer) SetServers(addrs []string) {
	next := make([]string, 0, len(addrs)+1)
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if a == "" || slices.Contains(next, a) {
			continue
		}
		if _, err := hostPort(a); err != nil || strings.Contains(a, "://") {
			klog.InfoS("Load balancer: ignoring a malformed server address", "address", a, "err", err)
			continue
		}
		next = append(next, a)
	}
	named := slices.Contains(next, lb.fallback)
	if !named {
		next = append(next, lb.fallback)
	}

	lb.mu.Lock()
	// The --server address stays current only if the list names it: as a
	// mere fallback (a DNS name or VIP, say) it goes behind the servers.
	if len(lb.servers) > 0 && (lb.servers[0] != lb.fallback || named) {
		if i := slices.Index(next, lb.servers[0]); i > 0 {
			cur := next[i]
			next = slices.Delete(next, i, i+1)
			next = slices.Insert(next, 0, cur)
		}
	}
	changed := !slices.Equal(next, lb.servers)
	if changed {
		lb.servers = next
	}
	lb.mu.Unlock()
	if changed {
		klog.InfoS("Load balancer servers changed", "servers", next)
		lb.saveState()
	}
}

// demote moves a server that could not be reached to the back of the list.
func (lb *LoadBalancer) demote(addr string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if i := slices.Index(lb.servers, addr); i >= 0 && i < len(lb.servers)-1 {
		lb.servers = append(slices.Delete(lb.servers, i, i+1), addr)
	}
}

// promote makes the server that just answered the current one.
func (lb *LoadBalancer) promote(addr string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if i := slices.Index(lb.servers, addr); i > 0 {
		lb.servers = slices.Insert(slices.Delete(lb.servers, i, i+1), 0, addr)
	}
}

// track records c so that Stop closes it, and counts a goroutine that will
// call untrack. It returns false (and closes c) once stopped.
func (lb *LoadBalancer) track(c net.Conn) bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.stopped {
		c.Close()
		return false
	}
	lb.conns[c] = struct{}{}
	return true
}

func (lb *LoadBalancer) untrack(c net.Conn) {
	c.Close()
	lb.mu.Lock()
	delete(lb.conns, c)
	lb.mu.Unlock()
}

func (lb *LoadBalancer) accept(ctx context.Context, l net.Listener) {
	defer lb.wg.Done()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: wait, as net/http
			// does, rather than spin or give up.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			klog.ErrorS(err, "Load balancer: accepting a connection", "retryIn", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		lb.mu.Lock()
		if lb.stopped {
			lb.mu.Unlock()
			c.Close()
			return
		}
		lb.conns[c] = struct{}{}
		lb.wg.Add(1)
		lb.mu.Unlock()
		go lb.serve(ctx, c)
	}
}

// serve connects one client to the first server that answers and copies
// bytes both ways until both sides are done.
func (lb *LoadBalancer) serve(ctx context.Context, client net.Conn) {
	defer lb.wg.Done()
	defer lb.untrack(client)
	upstream, err := lb.dial(ctx)
	if err != nil {
		if ctx.Err() == nil {
			klog.ErrorS(err, "Load balancer: dropping a connection", "client", client.RemoteAddr().String())
		}
		return
	}
	if !lb.track(upstream) {
		return
	}
	defer lb.untrack(upstream)
	splice(client, upstream)
}

// dial tries the servers in order; one that fails goes to the back of the
// list, one that answers after others failed becomes the current one.
func (lb *LoadBalancer) dial(ctx context.Context) (net.Conn, error) {
	servers := lb.Servers()
	d := net.Dialer{Timeout: lb.dialTimeout}
	var errs []string
	for i, addr := range servers {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			if i > 0 {
				lb.promote(addr)
				klog.InfoS("Load balancer: switched server", "server", addr)
			}
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		klog.InfoS("Load balancer: server unreachable, trying the next", "server", addr, "err", err)
		lb.demote(addr)
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("no server reachable (%s)", strings.Join(errs, "; "))
}

// splice copies both ways. When one side finishes sending, the other is
// told so (half-close) and may still answer; an error on either side ends
// both.
func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		if _, err := io.Copy(dst, src); err != nil {
			a.Close()
			b.Close()
			return
		}
		closeWrite(dst)
	}
	go pipe(a, b)
	go pipe(b, a)
	wg.Wait()
}

func closeWrite(c net.Conn) {
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		if hc.CloseWrite() == nil {
			return
		}
	}
	c.Close()
}

// state is what StateFile holds. Server ties the list to the --server it
// was learnt from: a list from another cluster is not taken up.
type state struct {
	Server  string   `json:"server"`
	Servers []string `json:"servers"`
}

func (lb *LoadBalancer) loadState() {
	if lb.stateFile == "" {
		return
	}
	data, err := os.ReadFile(lb.stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var s state
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		klog.InfoS("Load balancer: ignoring the saved server list", "file", lb.stateFile, "err", err)
		return
	}
	if s.Server != lb.fallback {
		klog.InfoS("Load balancer: ignoring a server list saved for another --server", "file", lb.stateFile, "savedFor", s.Server)
		return
	}
	// As saved, order included: the first one worked last.
	servers := slices.DeleteFunc(slices.Clone(s.Servers), func(a string) bool {
		_, err := hostPort(a)
		return err != nil || strings.Contains(a, "://")
	})
	servers = slices.Compact(servers)
	if !slices.Contains(servers, lb.fallback) {
		servers = append(servers, lb.fallback)
	}
	lb.mu.Lock()
	lb.servers = servers
	lb.mu.Unlock()
}

// saveState writes the list as it is now; reading it under saveMu makes the
// last write the newest list.
func (lb *LoadBalancer) saveState() {
	if lb.stateFile == "" {
		return
	}
	lb.saveMu.Lock()
	defer lb.saveMu.Unlock()
	data, err := json.Marshal(state{Server: lb.fallback, Servers: lb.Servers()})
	if err == nil {
		err = os.MkdirAll(filepath.Dir(lb.stateFile), 0o700)
	}
	if err == nil {
		err = fsutil.WriteFile(lb.stateFile, append(data, '\n'), 0o600)
	}
	if err != nil {
		// Only a restart while --server is down needs the file.
		klog.ErrorS(err, "Load balancer: saving the server list", "file", lb.stateFile)
	}
}
