package supervisor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// DefaultPort is the port k3s users expect the supervisor on; the CLI uses
// it as the default of --https-listen-port.
const DefaultPort = 6443

// DefaultBindAddress is used when Config.BindAddress is empty.
const DefaultBindAddress = "0.0.0.0"

// Settings taken from the kube-apiserver's own secure serving, so clients see
// the same behaviour through the supervisor as on the apiserver's port.
const (
	readHeaderTimeout    = 32 * time.Second
	idleTimeout          = 90 * time.Second
	maxHeaderBytes       = 1 << 20
	maxConcurrentStreams = 250
	http2FrameSize       = 256 << 10
)

// Config says where the supervisor listens and what it serves.
type Config struct {
	// BindAddress is the IP to listen on; "0.0.0.0" when empty. An IPv6
	// address or "::" is fine.
	BindAddress string
	// Port is the TCP port; 0 picks a free one (see Supervisor.Addr).
	Port int
	// CertFile and KeyFile are the serving certificate (signed by the
	// server CA, possibly followed by intermediates) and its key.
	CertFile, KeyFile string
	// ClientCAFile, if set, is a PEM bundle of the CAs whose client
	// certificates the apiserver accepts (client CA, and the request-header
	// CA if clients present front-proxy certificates). It is sent to clients
	// as the list of acceptable issuers; most clients, Go's included, then
	// only send a certificate issued by one of them. Verification is left to
	// the apiserver's authenticator either way.
	ClientCAFile string
	// CACertsPEM is what GET /cacerts serves.
	CACertsPEM []byte
	// Routes are extra handlers by path prefix. A key "/a" matches "/a" and
	// everything under "/a/"; a key ending in "/" matches only under it.
	// The longest matching key wins. /ping and /cacerts cannot be replaced.
	// May be nil.
	Routes map[string]http.Handler
}

// Supervisor serves the one port; it is a component.Component.
type Supervisor struct {
	cfg    Config
	routes []route

	apiserver atomic.Pointer[apiHandler]

	mu      sync.Mutex
	srv     *http.Server
	ln      net.Listener
	started chan struct{} // closed when Start succeeded
	served  chan struct{} // closed when Serve returned
	failed  chan error
}

var (
	_ component.Component = (*Supervisor)(nil)
	_ component.Failer    = (*Supervisor)(nil)
)

type route struct {
	prefix string
	h      http.Handler
}

type apiHandler struct{ h http.Handler }

// New returns a supervisor for cfg; nothing happens until Start.
func New(cfg Config) *Supervisor {
	s := &Supervisor{
		cfg:     cfg,
		started: make(chan struct{}),
		served:  make(chan struct{}),
		failed:  make(chan error, 1),
	}
	for p, h := range cfg.Routes {
		if h != nil {
			s.routes = append(s.routes, route{prefix: p, h: h})
		}
	}
	sort.Slice(s.routes, func(i, j int) bool {
		return len(s.routes[i].prefix) > len(s.routes[j].prefix)
	})
	return s
}

// Name implements component.Component.
func (s *Supervisor) Name() string { return "supervisor" }

// SetAPIServer installs the kube-apiserver's handler chain for every request
// that is not /ping, /cacerts or an extra route. It is safe to call at any
// time; nil goes back to answering 503.
func (s *Supervisor) SetAPIServer(h http.Handler) {
	if h == nil {
		s.apiserver.Store(nil)
		return
	}
	s.apiserver.Store(&apiHandler{h: h})
}

// Addr is the address the supervisor listens on, or nil before Start.
func (s *Supervisor) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Failed implements component.Failer: it receives an error if serving stops
// for any reason other than Stop.
func (s *Supervisor) Failed() <-chan error { return s.failed }

// Start loads the serving certificate, binds the port and serves in the
// background. A port already in use is reported as such.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("already started")
	}
	if s.cfg.Port < 0 || s.cfg.Port > 65535 {
		return fmt.Errorf("invalid port %d", s.cfg.Port)
	}
	tlsConfig, err := s.tlsConfig()
	if err != nil {
		return err
	}

	host := s.cfg.BindAddress
	if host == "" {
		host = DefaultBindAddress
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(s.cfg.Port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &PortInUseError{Port: s.cfg.Port, Addr: host, Err: err}
		}
		return fmt.Errorf("listening on %s: %w", net.JoinHostPort(host, strconv.Itoa(s.cfg.Port)), err)
	}

	srv := &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: readHeaderTimeout,
		// No ReadTimeout or WriteTimeout: watches, logs -f, exec and
		// port-forward run for as long as the client wants.
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:      maxConcurrentStreams,
			MaxReadFrameSize:          http2FrameSize,
			MaxReceiveBufferPerStream: http2FrameSize,
		},
		ErrorLog: log.New(serverErrorWriter{}, "", 0),
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)

	s.srv, s.ln = srv, ln
	klog.InfoS("Supervisor listening", "address", ln.Addr().String())
	go func() {
		defer close(s.served)
		// ServeTLS sets ALPN to h2, http/1.1 from srv.Protocols.
		err := srv.ServeTLS(ln, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			return
		}
		if err == nil {
			err = errors.New("stopped serving")
		}
		s.failed <- fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	}()
	close(s.started)
	return nil
}

// Ready returns once the port is bound and served; it does not wait for the
// apiserver handler.
func (s *Supervisor) Ready(ctx context.Context) error {
	select {
	case <-s.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-s.served:
		return errors.New("stopped serving")
	default:
		return nil
	}
}

// Stop stops accepting connections, waits for requests in flight until ctx
// ends, then closes whatever is left. Hijacked connections (exec,
// port-forward) belong to their handlers and are not waited for.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		klog.V(1).InfoS("Supervisor closing connections still in use", "reason", err)
		if cerr := srv.Close(); cerr != nil {
			return fmt.Errorf("closing: %w", cerr)
		}
	}
	select {
	case <-s.served:
	case <-ctx.Done():
	}
	return nil
}

func (s *Supervisor) tlsConfig() (*tls.Config, error) {
	if s.cfg.CertFile == "" || s.cfg.KeyFile == "" {
		return nil, errors.New("serving certificate and key are required")
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading serving certificate %s: %w", s.cfg.CertFile, err)
	}
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// Ask for a certificate but do not verify it here: the apiserver's
		// authenticator verifies req.TLS.PeerCertificates against the CAs
		// it trusts, exactly as on its own port, and a certificate it does
		// not accept still leaves the bearer token to try.
		ClientAuth: tls.RequestClientCert,
	}
	if s.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(s.cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificates in client CA %s", s.cfg.ClientCAFile)
		}
		c.ClientCAs = pool
	}
	return c, nil
}

func (s *Supervisor) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ping":
		if allowGet(w, r) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("pong"))
		}
		return
	case "/cacerts":
		if allowGet(w, r) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write(s.cfg.CACertsPEM)
		}
		return
	}
	for _, rt := range s.routes {
		if matchPrefix(rt.prefix, r.URL.Path) {
			rt.h.ServeHTTP(w, r)
			return
		}
	}
	if a := s.apiserver.Load(); a != nil {
		a.h.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Retry-After", "1")
	http.Error(w, "apiserver not ready", http.StatusServiceUnavailable)
}

func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func matchPrefix(prefix, path string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(path, prefix)
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// PortInUseError says the supervisor's port is taken and what to do.
type PortInUseError struct {
	Port int
	Addr string
	Err  error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d on %s is already in use; stop what is using it or choose another with --https-listen-port", e.Port, e.Addr)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// serverErrorWriter sends net/http's own error log to klog. TLS handshake
// failures (port scanners, clients that distrust the CA) are routine, so
// they are only logged at high verbosity.
type serverErrorWriter struct{}

func (serverErrorWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	if strings.Contains(msg, "TLS handshake error") {
		klog.V(4).InfoS("Supervisor TLS handshake failed", "detail", msg)
	} else {
		klog.InfoS("Supervisor HTTP server error", "detail", msg)
	}
	return len(p), nil
}
