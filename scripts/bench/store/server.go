package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"
)

// startServer starts `skiff server --disable-agent` on a fresh data dir with
// the store's args and waits until its /readyz says ok. The caller cleans
// it up (Cleanup).
func startServer(ctx context.Context, bin string, args []string, keep bool, timeout time.Duration) (*benchutil.Server, error) {
	srv, err := benchutil.StartServer(benchutil.ServerConfig{Bin: bin, Args: args, Keep: keep, ControlPlaneOnly: true})
	if err != nil {
		return nil, err
	}
	ctx, cancel := srv.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if c, err := adminClient(srv); err == nil {
			if body, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err == nil && string(body) == "ok" {
				return srv, nil
			}
		}
		select {
		case <-srv.Gone:
			err := srv.Fail(errors.New("skiff server exited before it was ready"))
			srv.Cleanup()
			return nil, err
		case <-ctx.Done():
			err := srv.Fail(fmt.Errorf("skiff server not ready: %w", ctx.Err()))
			srv.Cleanup()
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// adminClient is an admin client with no client-side rate limit: the bench
// measures the server, not client-go's throttle.
func adminClient(srv *benchutil.Server) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", srv.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	return kubernetes.NewForConfig(cfg)
}
