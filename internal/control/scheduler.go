package control

import (
	"context"
	"fmt"

	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"

	"github.com/skiff-k8s/skiff/internal/component"
)

// Scheduler is kube-scheduler.
type Scheduler struct {
	Args Args
	*goroutine
}

var _ component.Component = (*Scheduler)(nil)

func (s *Scheduler) Name() string { return "kube-scheduler" }

func (s *Scheduler) Start(ctx context.Context) error {
	opts := options.NewOptions()
	if err := parse("kube-scheduler", *opts.Flags, s.Args); err != nil {
		return err
	}
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("applying feature gates: %w", err)
	}
	s.goroutine = newGoroutine()
	setupErr := make(chan error, 1)
	s.start(ctx, func(ctx context.Context) error {
		cc, sched, err := app.Setup(ctx, opts)
		setupErr <- err
		if err != nil {
			return err
		}
		if le := cc.LeaderElection; le != nil {
			// Elected here, not by app.Run: see runElected.
			cc.LeaderElection = nil
			cc.ComponentConfig.LeaderElection.LeaderElect = false
			return runElected(ctx, le, func(ctx context.Context) error { return app.Run(ctx, cc, sched) })
		}
		return app.Run(ctx, cc, sched)
	})
	if err := <-setupErr; err != nil {
		return fmt.Errorf("setting up: %w", err)
	}
	return nil
}

// Ready is immediate: once set up, the scheduler only needs its informers,
// which it syncs on its own, and nothing else waits on it.
func (s *Scheduler) Ready(context.Context) error { return nil }

func (s *Scheduler) Stop(ctx context.Context) error {
	if s.goroutine == nil {
		return nil
	}
	return s.stop(ctx)
}
