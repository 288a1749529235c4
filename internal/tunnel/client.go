package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

const (
	// Reconnect backoff: from minBackoff, doubling to maxBackoff, back to
	// minBackoff once a tunnel stayed up for healthyAfter. A server
	// restart then costs about a second; a server that keeps refusing is
	// asked twice a minute, which keeps its log readable.
	minBackoff   = time.Second
	maxBackoff   = 30 * time.Second
	healthyAfter = time.Minute
	// handshakeTimeout bounds the TCP dial, TLS handshake and upgrade.
	handshakeTimeout = 30 * time.Second
)

// ClientConfig configures the agent end of the tunnel.
type ClientConfig struct {
	// URL is the tunnel endpoint, https://host:port/v1-skiff/connect
	// (on an agent, the client load balancer's address).
	URL string
	// TLS verifies the server (RootCAs, ServerName) and may carry a client
	// certificate. NextProtos is replaced: the upgrade needs HTTP/1.1.
	TLS *tls.Config
	// Header is sent with the upgrade request: authorization, node name
	// and node password.
	Header http.Header
	// Allow says whether the server may have this node dial network/addr.
	// Required; NodeAllow builds the rule the agent should use.
	Allow func(network, addr string) bool
	// DialTimeout bounds each local dial; DefaultDialTimeout when zero.
	DialTimeout time.Duration
	// DialServer, if set, makes the TCP connection to the URL's host:port;
	// a net.Dialer otherwise.
	DialServer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client keeps this node's tunnel to the server up. It is a
// component.Component.
type Client struct {
	cfg ClientConfig

	// Backoff settings, fields so tests can shorten them.
	minBackoff, maxBackoff, healthyAfter time.Duration

	mu        sync.Mutex
	started   bool
	cancel    context.CancelFunc
	done      chan struct{} // closed when the loop has exited
	connected chan struct{} // closed at the first tunnel
	once      sync.Once

	sessions atomic.Int64 // tunnels established, for tests
}

var _ component.Component = (*Client)(nil)

// NewClient returns a tunnel client; nothing is dialled until Start.
func NewClient(cfg ClientConfig) *Client {
	return &Client{
		cfg:          cfg,
		minBackoff:   minBackoff,
		maxBackoff:   maxBackoff,
		healthyAfter: healthyAfter,
		done:         make(chan struct{}),
		connected:    make(chan struct{}),
	}
}

// Name implements component.Component.
func (c *Client) Name() string { return "tunnel" }

// HandshakeError is the server's refusal of the upgrade.
type HandshakeError struct {
	Status int    // HTTP status code
	Msg    string // first line of the body, if any
}

func (e *HandshakeError) Error() string {
	detail := ""
	if e.Msg != "" {
		detail = ": " + e.Msg
	}
	switch e.Status {
	case http.StatusUnauthorized:
		return "the server refused the tunnel's credentials (401)" + detail + "; check the agent's token"
	case http.StatusForbidden:
		return "the server forbade this node a tunnel (403)" + detail
	case http.StatusConflict:
		return "the server refused the node name (409)" + detail + "; another node holds it"
	}
	return fmt.Sprintf("the server answered %d %s instead of opening the tunnel%s", e.Status, http.StatusText(e.Status), detail)
}

// Start checks the configuration and keeps a tunnel up in the background
// until Stop.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("already started")
	}
	u, err := url.Parse(c.cfg.URL)
	if err != nil {
		return fmt.Errorf("parsing the tunnel URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("the tunnel URL %q must be https://host:port/...", c.cfg.URL)
	}
	if c.cfg.Allow == nil {
		// Fail closed: a client with no rule would dial anything.
		return errors.New("the tunnel client needs an Allow rule")
	}
	ctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	c.started = true
	go c.run(ctx, u)
	return nil
}

// Ready returns once the first tunnel is up. A server that refuses the
// node does not make Ready fail: the client keeps retrying (the refusal is
// logged), and the caller decides, by its context, how long to wait.
func (c *Client) Ready(ctx context.Context) error {
	select {
	case <-c.connected:
		return nil
	case <-c.done:
		select {
		case <-c.connected: // both closed: select chose at random
			return nil
		default:
			return errors.New("stopped before the tunnel connected")
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop closes the tunnel and every connection through it.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	cancel, started := c.cancel, c.started
	c.mu.Unlock()
	if !started {
		return nil
	}
	cancel()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) run(ctx context.Context, u *url.URL) {
	defer close(c.done)
	backoff := c.minBackoff
	for {
		began := time.Now()
		established, err := c.connectAndServe(ctx, u)
		if ctx.Err() != nil {
			return
		}
		if established && time.Since(began) >= c.healthyAfter {
			backoff = c.minBackoff
		}
		wait := jitter(backoff)
		var he *HandshakeError
		switch {
		case errors.As(err, &he):
			klog.ErrorS(err, "Tunnel refused by the server", "url", u.String(), "retryIn", wait.Round(time.Millisecond))
		case established:
			klog.InfoS("Tunnel disconnected, reconnecting", "url", u.String(), "reason", err, "retryIn", wait.Round(time.Millisecond))
		default:
			klog.InfoS("Tunnel connection failed", "url", u.String(), "err", err, "retryIn", wait.Round(time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, c.maxBackoff)
	}
}

// jitter spreads reconnects by ±20% so agents that lost the same server do
// not all come back in the same instant.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// connectAndServe makes one tunnel and serves it until it ends. established
// says whether the upgrade succeeded.
func (c *Client) connectAndServe(ctx context.Context, u *url.URL) (established bool, err error) {
	conn, br, err := c.handshake(ctx, u)
	if err != nil {
		return false, err
	}
	// The agent side is yamux's server: it accepts the server's streams.
	mux, err := yamux.Server(newBufferedConn(conn, br), yamuxConfig())
	if err != nil {
		_ = conn.Close()
		return false, fmt.Errorf("starting the tunnel session: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = mux.Close() })
	defer stop()
	defer mux.Close()

	c.sessions.Add(1)
	c.once.Do(func() { close(c.connected) })
	klog.InfoS("Tunnel connected", "url", u.String())

	for {
		st, err := mux.AcceptStream()
		if err != nil {
			if errors.Is(err, yamux.ErrSessionShutdown) || errors.Is(err, io.EOF) {
				err = errors.New("the connection to the server closed")
			}
			return true, err
		}
		go c.handleStream(ctx, st)
	}
}

// handshake dials the server and upgrades the connection. The returned
// reader holds whatever the server sent after its 101.
func (c *Client) handshake(ctx context.Context, u *url.URL) (net.Conn, *bufio.Reader, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()

	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	dial := c.cfg.DialServer
	if dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dialling %s: %w", addr, err)
	}
	var tc *tls.Config
	if c.cfg.TLS != nil {
		tc = c.cfg.TLS.Clone()
	} else {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	// Only HTTP/1.1 can be upgraded; the supervisor also speaks h2.
	tc.NextProtos = []string{"http/1.1"}
	if tc.ServerName == "" {
		tc.ServerName = u.Hostname()
	}
	conn := tls.Client(raw, tc)
	// One deadline for the handshake and the upgrade, cleared after.
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (net.Conn, *bufio.Reader, error) {
		stop()
		_ = conn.Close()
		if ctx.Err() != nil && !errors.As(err, new(*HandshakeError)) {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, nil, err
	}
	if err := conn.HandshakeContext(ctx); err != nil {
		return fail(fmt.Errorf("TLS handshake with %s: %w", addr, err))
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fail(fmt.Errorf("building the upgrade request: %w", err))
	}
	req.Header = c.cfg.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", UpgradeProtocol)
	if err := req.Write(conn); err != nil {
		return fail(fmt.Errorf("sending the upgrade request to %s: %w", addr, err))
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(fmt.Errorf("reading the upgrade answer from %s: %w", addr, err))
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		_ = resp.Body.Close()
		msg, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		return fail(&HandshakeError{Status: resp.StatusCode, Msg: msg})
	}
	if !headerHasToken(resp.Header, "Upgrade", UpgradeProtocol) {
		return fail(fmt.Errorf("the server at %s switched to %q, not %s", addr, resp.Header.Get("Upgrade"), UpgradeProtocol))
	}
	if !stop() {
		return fail(ctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, br, nil
}

// handleStream serves one stream: reads the target, checks the rule,
// dials, answers and splices.
func (c *Client) handleStream(ctx context.Context, st *yamux.Stream) {
	_ = st.SetDeadline(time.Now().Add(headerTimeout))
	network, addr, err := readRequest(st)
	if err != nil {
		klog.V(2).InfoS("Reading a tunnel stream's header", "err", err)
		_ = st.Close()
		return
	}
	if !isTCP(network) || !c.cfg.Allow(network, addr) {
		// Logged: a refusal usually means the server and this node
		// disagree about the node's addresses or kubelet port.
		klog.InfoS("Tunnel refused a dial", "network", network, "addr", addr)
		_ = writeStatus(st, statusRefused, fmt.Sprintf("%s %s is not allowed: a node's tunnel reaches only its kubelet port and its pod CIDR", network, addr))
		_ = st.Close()
		return
	}
	timeout := c.cfg.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		klog.V(2).InfoS("Tunnel dial failed", "addr", addr, "err", err)
		_ = writeStatus(st, statusDialFailed, err.Error())
		_ = st.Close()
		return
	}
	if err := writeStatus(st, statusOK, ""); err != nil {
		_ = conn.Close()
		_ = st.Close()
		return
	}
	_ = st.SetDeadline(time.Time{})
	splice(st, conn)
}

// NodeAllow is the rule an agent's tunnel should use: the kubelet port on
// the node's own addresses and on loopback (the kubelet listens on all
// addresses, so that is the same kubelet), and any port on an address in
// the node's pod CIDRs — pods, for the apiserver's proxy and webhooks —
// except addresses the node itself holds there (the bridge gateway, the
// vxlan device), which would reach the node's own services. Everything
// else, hostnames included, is refused. podCIDRs is asked on every dial, as
// a node learns its pod CIDR only after it registered; nil means none.
func NodeAllow(nodeIPs []net.IP, kubeletPort int, podCIDRs func() []*net.IPNet) func(network, addr string) bool {
	return nodeAllow(nodeIPs, kubeletPort, podCIDRs, isLocalAddr)
}

func nodeAllow(nodeIPs []net.IP, kubeletPort int, podCIDRs func() []*net.IPNet, isLocal func(net.IP) bool) func(network, addr string) bool {
	ips := append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, nodeIPs...)
	return func(network, addr string) bool {
		if !isTCP(network) {
			return false
		}
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return false
		}
		ip := net.ParseIP(host)
		port, err := strconv.Atoi(portStr)
		if ip == nil || err != nil {
			return false
		}
		if port == kubeletPort {
			for _, n := range ips {
				if n.Equal(ip) {
					return true
				}
			}
		}
		if podCIDRs == nil {
			return false
		}
		for _, c := range podCIDRs() {
			if c != nil && c.Contains(ip) {
				return !isLocal(ip)
			}
		}
		return false
	}
}

// isLocalAddr says whether ip is assigned to an interface of this host. If
// the interfaces cannot be read it says yes, which refuses the dial.
func isLocalAddr(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
