package control

import (
	"context"
	"errors"

	"k8s.io/client-go/tools/leaderelection"
)

// runElected runs run only while this process holds the lease of le,
// releasing it when ctx ends so that another server takes over at once.
// It stands in for the election upstream's scheduler runs itself, whose
// callbacks end the whole process (os.Exit) when it stops: a server
// stopping would exit before its other parts stopped. Losing the lease
// while running is an error, which stops the server as upstream would.
func runElected(ctx context.Context, le *leaderelection.LeaderElectionConfig, run func(context.Context) error) error {
	cfg := *le
	cfg.ReleaseOnCancel = true
	runErr := make(chan error, 1)
	started := make(chan struct{})
	cfg.Callbacks = leaderelection.LeaderCallbacks{
		OnStartedLeading: func(ctx context.Context) { close(started); runErr <- run(ctx) },
		OnStoppedLeading: func() {},
	}
	elector, err := leaderelection.NewLeaderElector(cfg)
	if err != nil {
		return err
	}
	// Run returns once the lease is lost or ctx ends, without waiting for
	// run, which its end cancels: wait for run here.
	elector.Run(ctx)
	err = errors.New("lost the leader election lease")
	select {
	case <-started:
		if rerr := <-runErr; rerr != nil && ctx.Err() == nil {
			err = rerr
		}
	default:
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}
