package control

import (
	"context"
	"fmt"

	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"

	"github.com/skiff-k8s/skiff/internal/component"
)

// ControllerManager is kube-controller-manager.
type ControllerManager struct {
	Args Args
	*goroutine
}

var _ component.Component = (*ControllerManager)(nil)

func (c *ControllerManager) Name() string { return "kube-controller-manager" }

func (c *ControllerManager) Start(ctx context.Context) error {
	s, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return fmt.Errorf("building options: %w", err)
	}
	sets := s.Flags(app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases())
	s.ParsedFlags = &sets
	if err := parse("kube-controller-manager", sets, c.Args); err != nil {
		return err
	}
	if err := s.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("applying feature gates: %w", err)
	}
	config, err := s.Config(ctx, app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases())
	if err != nil {
		return fmt.Errorf("building config: %w", err)
	}
	c.goroutine = newGoroutine()
	c.start(ctx, func(ctx context.Context) error { return app.Run(ctx, config.Complete()) })
	return nil
}

// Ready is immediate: the controllers start their informers themselves.
func (c *ControllerManager) Ready(context.Context) error { return nil }

func (c *ControllerManager) Stop(ctx context.Context) error {
	if c.goroutine == nil {
		return nil
	}
	return c.stop(ctx)
}
