package control

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/rest"
	aggregatorapiserver "k8s.io/kube-aggregator/pkg/apiserver"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"

	"github.com/skiff-k8s/skiff/internal/component"
)

// APIServer is kube-apiserver. Besides its own loopback port, it hands its
// handler chain to OnHandler so that the supervisor can serve the API on the
// public port in-process, with the apiserver's own authentication reading
// the client certificate from the supervisor's TLS connection.
type APIServer struct {
	Args Args
	// ReadyzURL is the loopback /readyz that says the apiserver serves.
	ReadyzURL string
	// ClientTLS authenticates the readiness probe.
	ClientTLS *tls.Config
	// OnHandler receives the full handler chain once it is built.
	OnHandler func(http.Handler)
	// PublicPort is the port the kubernetes Service's endpoints name: the
	// supervisor's, which serves this apiserver on the node's address. The
	// apiserver's own port listens on loopback only, so pods sent there
	// were refused. Zero keeps the apiserver's own port.
	PublicPort int

	*goroutine
	ready atomic.Bool
}

var _ component.Component = (*APIServer)(nil)

func (a *APIServer) Name() string { return "kube-apiserver" }

func (a *APIServer) Start(ctx context.Context) error {
	// Loopback clients must not log the warnings they raise themselves.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	s := options.NewServerRunOptions()
	if err := parse("kube-apiserver", s.Flags(), a.Args); err != nil {
		return err
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("applying feature gates: %w", err)
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return fmt.Errorf("completing options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return fmt.Errorf("invalid options: %w", utilerrors.NewAggregate(errs))
	}
	config, err := app.NewConfig(completed)
	if err != nil {
		return fmt.Errorf("building config: %w", err)
	}
	done, err := config.Complete()
	if err != nil {
		return fmt.Errorf("completing config: %w", err)
	}
	chain, err := a.createChain(done, config.KubeAPIs.ControlPlane.Generic.SecureServing)
	if err != nil {
		return fmt.Errorf("creating server chain: %w", err)
	}
	prepared, err := chain.PrepareRun()
	if err != nil {
		return fmt.Errorf("preparing to run: %w", err)
	}
	// The OpenAPI definitions of every built-in type (~14 MB) are cached in
	// the v3 config only while the API groups are installed and their
	// specs built, which PrepareRun has done. Nothing reads the cache
	// afterwards, and a late reader falls back to building them anew.
	config.KubeAPIs.ControlPlane.Generic.OpenAPIV3Config.Definitions = nil
	if a.OnHandler != nil {
		a.OnHandler(chain.GenericAPIServer.Handler)
	}
	a.goroutine = newGoroutine()
	a.start(ctx, prepared.Run)
	return nil
}

// Ready polls /readyz: it turns ok only once storage, RBAC bootstrap and the
// system namespaces are in place, which is what a user means by "up".
func (a *APIServer) Ready(ctx context.Context) error {
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: a.ClientTLS},
	}
	defer client.CloseIdleConnections()
	err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
		resp, err := client.Get(a.ReadyzURL)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
		return resp.StatusCode == http.StatusOK && string(body) == "ok", nil
	})
	if err == nil {
		a.ready.Store(true)
	}
	return err
}

// Stop ends the apiserver. One asked to stop before it is ready is let
// finish starting first: upstream ends the whole process (klog.Fatal) when a
// post-start hook sees its context cancelled, and a stop is not a crash.
func (a *APIServer) Stop(ctx context.Context) error {
	if a.goroutine == nil {
		return nil
	}
	if !a.ready.Load() {
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = a.Ready(wait)
		cancel()
	}
	return a.stop(ctx)
}

// createChain builds the apiserver's handler chain. The kubernetes Service
// controller takes its endpoints' port (and the Service's targetPort) from
// the serving listener's address while the chain is built, so for that
// moment the listener reports PublicPort; the loopback client was set up
// before, and serving (and its log line) sees the real listener again.
func (a *APIServer) createChain(done app.CompletedConfig, serving *server.SecureServingInfo) (*aggregatorapiserver.APIAggregator, error) {
	if a.PublicPort == 0 {
		return app.CreateServerChain(done)
	}
	own := serving.Listener
	serving.Listener = advertisedPort{Listener: own, port: a.PublicPort}
	defer func() { serving.Listener = own }()
	return app.CreateServerChain(done)
}

// advertisedPort is the apiserver's listener reporting another port as
// its own: the one its clients outside this process reach it at.
type advertisedPort struct {
	net.Listener
	port int
}

func (l advertisedPort) Addr() net.Addr {
	addr := *l.Listener.Addr().(*net.TCPAddr)
	addr.Port = l.port
	return &addr
}

// poll calls check every interval until it says done, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, check func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := check()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
