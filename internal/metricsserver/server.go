package metricsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// Server is metrics-server running in the skiff server's process: it
// serves metrics.k8s.io on its own port, scrapes the kubelets, and keeps
// this server's EndpointSlice of the metrics-server Service. Build it with
// New; it is a component.Component.
type Server struct {
	cfg               Config
	certFile, keyFile string

	mu         sync.Mutex
	started    bool
	keeper     *sliceKeeper
	stopServer context.CancelFunc
	stopKeeper context.CancelFunc
	err        error // why the server ended, if it ended by itself

	serving    chan struct{} // closed once it answers /healthz
	done       chan struct{} // closed when the server has ended
	keeperDone chan struct{} // closed when the slice keeper has ended
	failed     chan error
}

var (
	_ component.Component = (*Server)(nil)
	_ component.Failer    = (*Server)(nil)
)

// New checks cfg and issues (or renews) the serving certificate, so that a
// problem with either stops the server before any part starts. Nothing
// listens until Start.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	certFile, keyFile, err := ensureServingCert(cfg)
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg:        cfg,
		certFile:   certFile,
		keyFile:    keyFile,
		serving:    make(chan struct{}),
		done:       make(chan struct{}),
		keeperDone: make(chan struct{}),
		failed:     make(chan error, 1),
	}, nil
}

// Name implements component.Component.
func (s *Server) Name() string { return "metrics-server" }

// Failed implements component.Failer: it receives why the server ended
// when nobody asked it to.
func (s *Server) Failed() <-chan error { return s.failed }

// Start listens on the port at once, so that a port in use is a start-up
// error, and does the rest in the background: it waits for the apiserver's
// front-proxy configuration, builds the server, serves, and once it
// answers, publishes this server's endpoint.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("already started")
	}
	restCfg, err := restConfig(s.cfg.Kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("metrics-server: client: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.listenAddress())
	if err != nil {
		return fmt.Errorf("the metrics API cannot listen on %s (%v); stop what is using port %d (skiff serves the metrics API on --https-listen-port + 2)",
			s.cfg.listenAddress(), err, s.cfg.Port)
	}
	serverCtx, stopServer := context.WithCancel(ctx)
	keeperCtx, stopKeeper := context.WithCancel(ctx)
	s.keeper = &sliceKeeper{client: client, name: sliceName(s.cfg.Identity), ip: s.cfg.AdvertiseIP, port: int32(s.cfg.Port)}
	s.started, s.stopServer, s.stopKeeper = true, stopServer, stopKeeper

	go s.run(serverCtx, client, ln)
	go func() {
		defer close(s.keeperDone)
		select {
		case <-s.serving:
			s.keeper.run(keeperCtx)
		case <-keeperCtx.Done():
		}
	}()
	return nil
}

// Ready waits until the server answers its /healthz, which it does once
// its Node and Pod caches are filled. It does not wait for the first
// metrics (/readyz): those take two scrapes, and a server without nodes
// never has any.
func (s *Server) Ready(ctx context.Context) error {
	select {
	case <-s.serving:
		return nil
	case <-s.done:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err != nil {
			return s.err
		}
		return errors.New("stopped before it served")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop withdraws this server's endpoint first, so that the aggregator
// sends no more requests here, then ends the server. A server stopped
// before it served simply stops: nothing it runs ends the process when
// cancelled early (see the package doc).
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.stopKeeper()
	if err := waitClosed(ctx, s.keeperDone); err != nil {
		return fmt.Errorf("the EndpointSlice keeper did not stop: %w", err)
	}
	s.keeper.remove(ctx)
	s.stopServer()
	if err := waitClosed(ctx, s.done); err != nil {
		return fmt.Errorf("did not stop in time: %w", err)
	}
	return nil
}

// run serves until ctx ends, and reports an end that nobody asked for.
func (s *Server) run(ctx context.Context, client kubernetes.Interface, ln net.Listener) {
	defer close(s.done)
	// The generic server closes the listener when it stops serving; this
	// is for an end before it served.
	defer ln.Close()
	err := s.serve(ctx, client, ln)
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		err = errors.New("stopped serving without being asked to")
	}
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	s.failed <- err
}

// serve builds metrics-server and runs it until ctx ends.
func (s *Server) serve(ctx context.Context, client kubernetes.Interface, ln net.Listener) error {
	if err := waitForAuthConfig(ctx, client); err != nil {
		return err
	}
	sc, err := serverConfig(s.cfg, ln, s.certFile, s.keyFile)
	if err != nil {
		return err
	}
	srv, err := sc.Complete()
	if err != nil {
		return fmt.Errorf("metrics-server: building the server: %w", err)
	}
	probe, err := newProbe(s.cfg.ServerCA.CertPEM, probeAddress(ln.Addr()))
	if err != nil {
		return err
	}
	defer probe.close()
	// From here on, return only once RunUntil has: the listener must not
	// be closed under a serving server (its serve loop would panic).
	ended := make(chan error, 1)
	go func() { ended <- srv.RunUntil(ctx.Done()) }()
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for !probe.healthy(ctx) {
		select {
		case err := <-ended:
			if err == nil && ctx.Err() == nil {
				err = errors.New("metrics-server ended before it served")
			}
			return err
		case <-tick.C:
		}
	}
	klog.InfoS("metrics-server: serving the metrics API", "address", ln.Addr().String(),
		"resolution", s.cfg.MetricResolution)
	close(s.serving)
	return <-ended
}

// waitClosed waits for c to be closed, or for ctx to end.
func waitClosed(ctx context.Context, c <-chan struct{}) error {
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
