package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

const (
	// directDialTimeout bounds a dial that does not go through a tunnel
	// when the caller's context has no deadline (the apiserver's CONNECT
	// client gives none).
	directDialTimeout = 30 * time.Second
	// syncWait is how long Dial waits for the Node cache to fill when a
	// tunnel is already open but the cache is not: right after a server
	// start, agents reconnect before the first Node list arrives, and a
	// kubectl logs then would otherwise be dialled directly and fail.
	syncWait = 5 * time.Second
	// apiPollInterval: how often the Node informer's start-up probes the
	// apiserver, which may start after this part.
	apiPollInterval = 500 * time.Millisecond
	// upgradeWriteTimeout bounds writing the 101 answer.
	upgradeWriteTimeout = 10 * time.Second
)

// ServerConfig configures the server end of the tunnels.
type ServerConfig struct {
	// Client reads Node objects: their addresses, kubelet ports and pod
	// CIDRs decide which connections go through which tunnel. Without it
	// (nil) no address is known to belong to a node and Dial always dials
	// directly.
	Client kubernetes.Interface
	// EgressSocket is the unix socket the apiserver's egress selector
	// dials (see WriteEgressConfig), e.g. <data>/server/egress.sock. A
	// stale socket left by a crash is removed at Start. Empty: no socket.
	EgressSocket string
}

// Server holds the agents' tunnels and dials through them. It is a
// component.Component; ServeTunnel may be called before Start (the
// supervisor may take an agent's request before this part has started).
type Server struct {
	cfg    ServerConfig
	dialer net.Dialer

	mu       sync.Mutex
	sessions map[string]*session // by node name
	stopped  bool
	started  bool
	cancel   context.CancelFunc

	// egress proxy
	egress *http.Server
	socket *socketFile
	conns  map[net.Conn]struct{} // hijacked CONNECT connections, closed by Stop
	failed chan error

	// node cache
	factory informers.SharedInformerFactory
	nodes   corelisters.NodeLister // nil until the informer is created
	synced  chan struct{}          // closed once the Node cache is filled
}

var (
	_ component.Component = (*Server)(nil)
	_ component.Failer    = (*Server)(nil)
)

// session is one node's tunnel.
type session struct {
	node   string
	mux    *yamux.Session
	remote string
	opened atomic.Int64 // streams opened through it, for logs and tests
}

// NewServer returns a tunnel server; nothing is listened on until Start.
func NewServer(cfg ServerConfig) *Server {
	return &Server{
		cfg:      cfg,
		dialer:   net.Dialer{Timeout: directDialTimeout, KeepAlive: 30 * time.Second},
		sessions: map[string]*session{},
		conns:    map[net.Conn]struct{}{},
		failed:   make(chan error, 1),
		synced:   make(chan struct{}),
	}
}

// Name implements component.Component.
func (s *Server) Name() string { return "tunnel-server" }

// Failed implements component.Failer: it receives an error if the egress
// socket stops being served for any reason other than Stop.
func (s *Server) Failed() <-chan error { return s.failed }

// Start serves the egress socket and starts watching Nodes. The Node
// informer waits in the background until the apiserver answers, so this
// part may start before or after the apiserver.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("already started")
	}
	if s.stopped {
		return errors.New("already stopped")
	}
	ctx, cancel := context.WithCancel(ctx)
	if s.cfg.EgressSocket != "" {
		if err := s.startEgress(); err != nil {
			cancel()
			return err
		}
	}
	if s.cfg.Client != nil {
		s.factory = informers.NewSharedInformerFactoryWithOptions(s.cfg.Client, 0, informers.WithTransform(trimNode))
		ni := s.factory.Core().V1().Nodes()
		s.nodes = ni.Lister()
		informer := ni.Informer() // registers it with the factory before Start
		go s.runInformer(ctx, informer)
	}
	s.cancel = cancel
	s.started = true
	return nil
}

// Ready returns at once: the socket is served from Start on, and tunnels
// work without the Node cache (they are only not chosen yet), so nothing
// here is worth holding the role's start-up for.
func (s *Server) Ready(ctx context.Context) error { return nil }

// Stop closes every tunnel, the egress socket and the connections through
// it, and the Node informer.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	sessions := s.sessions
	s.sessions = map[string]*session{}
	conns := s.conns
	s.conns = map[net.Conn]struct{}{}
	cancel, egress, factory := s.cancel, s.egress, s.factory
	s.mu.Unlock()

	if cancel != nil {
		cancel()
	}
	var errs []error
	if egress != nil {
		// Close, not Shutdown: the only requests are CONNECTs, which are
		// hijacked at once, so there is nothing in flight to wait for.
		if err := egress.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the egress socket: %w", err))
		}
		s.socket.remove()
	}
	for c := range conns {
		_ = c.Close()
	}
	for _, sess := range sessions {
		_ = sess.mux.Close()
	}
	if factory != nil {
		done := make(chan struct{})
		go func() { factory.Shutdown(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	return errors.Join(errs...)
}

// Connected says whether node has an open tunnel.
func (s *Server) Connected(node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[node]
	return ok
}

// ServeTunnel turns an agent's request into node's tunnel and returns when
// the tunnel ends. The caller has already authenticated the agent and
// decided which node it is: this only checks the upgrade. A node has one
// tunnel; a newer one replaces (and closes) the older, since the older is
// usually a connection that died without either end noticing yet.
func (s *Server) ServeTunnel(w http.ResponseWriter, r *http.Request, node string) {
	if r.ProtoMajor != 1 {
		// Hijacking needs HTTP/1.1; the Client offers only http/1.1 in ALPN.
		http.Error(w, "the tunnel needs HTTP/1.1", http.StatusHTTPVersionNotSupported)
		return
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", UpgradeProtocol) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", UpgradeProtocol)
		http.Error(w, "expected Connection: Upgrade and Upgrade: "+UpgradeProtocol, http.StatusUpgradeRequired)
		return
	}
	if node == "" {
		http.Error(w, "no node name", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "the tunnel server is stopping", http.StatusServiceUnavailable)
		return
	}

	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		klog.ErrorS(err, "Taking over a tunnel connection", "node", node)
		http.Error(w, "cannot take over the connection", http.StatusInternalServerError)
		return
	}
	// net/http may have left a read deadline from the header timeout; a
	// tunnel lives as long as the agent does.
	_ = conn.SetDeadline(time.Now().Add(upgradeWriteTimeout))
	_, err = conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n" +
		"Connection: Upgrade\r\nUpgrade: " + UpgradeProtocol + "\r\n\r\n"))
	if err != nil {
		klog.InfoS("Tunnel handshake failed", "node", node, "remote", conn.RemoteAddr().String(), "err", err)
		_ = conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})

	// The server side is yamux's client: it opens the streams.
	mux, err := yamux.Client(newBufferedConn(conn, brw.Reader), yamuxConfig())
	if err != nil {
		klog.ErrorS(err, "Starting a tunnel session", "node", node)
		_ = conn.Close()
		return
	}
	sess := &session{node: node, mux: mux, remote: conn.RemoteAddr().String()}

	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = mux.Close()
		return
	}
	old := s.sessions[node]
	s.sessions[node] = sess
	s.mu.Unlock()
	if old != nil {
		klog.InfoS("Tunnel replaced by a newer connection", "node", node, "old", old.remote, "new", sess.remote)
		_ = old.mux.Close()
	}
	klog.InfoS("Tunnel connected", "node", node, "remote", sess.remote)

	<-mux.CloseChan()

	s.mu.Lock()
	if s.sessions[node] == sess {
		delete(s.sessions, node)
	}
	s.mu.Unlock()
	klog.InfoS("Tunnel disconnected", "node", node, "remote", sess.remote, "streams", sess.opened.Load())
}

// Dial connects to addr, through the tunnel of the node that owns it (see
// routeForNode and nodeRoute.match) or else directly. A tunnel dial that the
// agent refuses or fails returns a *DialError; it is not retried directly,
// since a node with a tunnel is usually one that cannot be reached any
// other way, and a direct attempt would only turn a clear error into a
// 30-second timeout.
func (s *Server) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if isTCP(network) {
		if ap, err := netip.ParseAddrPort(addr); err == nil {
			if sess := s.lookup(ctx, ap); sess != nil {
				conn, err := sess.dial(ctx, network, addr)
				if !errors.Is(err, errSessionGone) {
					return conn, err
				}
				// The tunnel died between lookup and open: behave as if
				// it had not been there.
			}
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, directDialTimeout)
		defer cancel()
	}
	return s.dialer.DialContext(ctx, network, addr)
}

// lookup finds the open tunnel whose node owns ap. Ties between nodes (two
// nodes claiming one address) go to the stronger match, then to the
// smaller node name, so the choice is at least stable.
func (s *Server) lookup(ctx context.Context, ap netip.AddrPort) *session {
	s.mu.Lock()
	n, nodes := len(s.sessions), s.nodes
	s.mu.Unlock()
	if n == 0 || nodes == nil {
		return nil
	}
	s.waitSynced(ctx)

	s.mu.Lock()
	defer s.mu.Unlock()
	bestKind := matchNone
	var claimants []string // the nodes matching at bestKind
	for name := range s.sessions {
		node, err := nodes.Get(name)
		if err != nil {
			continue // no Node yet: a fresh agent before its kubelet registered
		}
		k := routeForNode(node).match(ap)
		switch {
		case k == matchNone || k < bestKind:
		case k > bestKind:
			bestKind, claimants = k, []string{name}
		default:
			claimants = append(claimants, name)
		}
	}
	if len(claimants) == 0 {
		return nil
	}
	slices.Sort(claimants)
	if len(claimants) > 1 {
		// Agents on separate private networks can report the same
		// InternalIP, and the apiserver dials by address only, so they
		// cannot be told apart here. Say so: the answer may come from the
		// wrong kubelet.
		klog.InfoS("Several tunnelled nodes claim one address; give nodes unique addresses (--node-ip)",
			"addr", ap.String(), "chosen", claimants[0], "others", claimants[1:])
	}
	return s.sessions[claimants[0]]
}

func (s *Server) waitSynced(ctx context.Context) {
	select {
	case <-s.synced:
		return
	default:
	}
	t := time.NewTimer(syncWait)
	defer t.Stop()
	select {
	case <-s.synced:
	case <-t.C:
	case <-ctx.Done():
	}
}

var errSessionGone = errors.New("tunnel closed")

// dial opens a stream, names the target and waits for the agent's status.
func (ss *session) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	st, err := ss.mux.OpenStream()
	if err != nil {
		if ss.mux.IsClosed() {
			return nil, errSessionGone
		}
		return nil, fmt.Errorf("opening a stream to node %s: %w", ss.node, err)
	}
	ss.opened.Add(1)
	deadline := time.Now().Add(headerTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = st.SetDeadline(deadline)
	// A cancelled context ends the wait at once rather than at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = st.SetDeadline(time.Unix(1, 0)) })

	status, msg, err := func() (byte, string, error) {
		if err := writeRequest(st, network, addr); err != nil {
			return 0, "", err
		}
		return readStatus(st)
	}()
	stopped := !stop()
	if err != nil || stopped {
		_ = st.Close()
		// The stream's deadline is the context's when that is sooner, and
		// may fire a moment before the context itself ends: report either
		// as the context's error, which callers test for.
		if stopped || ctx.Err() != nil {
			err = context.Cause(ctx)
		} else if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			err = context.DeadlineExceeded
		}
		return nil, fmt.Errorf("dialling %s through the tunnel of node %s: %w", addr, ss.node, err)
	}
	switch status {
	case statusOK:
	case statusRefused:
		_ = st.Close()
		return nil, &DialError{Node: ss.node, Addr: addr, Refused: true, Msg: msg}
	default:
		_ = st.Close()
		return nil, &DialError{Node: ss.node, Addr: addr, Msg: msg}
	}
	_ = st.SetDeadline(time.Time{})
	klog.V(4).InfoS("Dialled through tunnel", "node", ss.node, "addr", addr)
	return &streamConn{Stream: st, remote: targetAddr(network, addr)}, nil
}

// runInformer waits until the apiserver answers, then fills the Node cache
// and keeps it current. Probing first keeps the log quiet while a local
// apiserver starts, and avoids the informer's own error backoff, which
// would delay the first list by several seconds.
func (s *Server) runInformer(ctx context.Context, informer cache.SharedIndexInformer) {
	for {
		_, err := s.cfg.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil {
			break
		}
		klog.V(2).InfoS("Waiting for the apiserver to watch Nodes", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(apiPollInterval):
		}
	}
	s.factory.Start(ctx.Done())
	if cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		close(s.synced)
		klog.V(1).InfoS("Tunnel server knows the nodes")
	}
}

// headerHasToken says whether a comma-separated header (Connection,
// Upgrade) lists token, compared case-insensitively as RFC 9110 says.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
