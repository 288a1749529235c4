package component

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/klog/v2"
)

// Component is one part of a role.
type Component interface {
	// Name names the part in logs and errors ("datastore", "kube-apiserver").
	Name() string
	// Start begins the part's work and returns without waiting for it to be
	// ready. Long-running work runs in goroutines bound to ctx.
	Start(ctx context.Context) error
	// Ready blocks until the part serves, or returns why it cannot.
	Ready(ctx context.Context) error
	// Stop ends the part's work and releases what it holds.
	Stop(ctx context.Context) error
}

// Failer is implemented by parts whose background work can fail after
// Start returned; a value on the channel stops the whole role.
type Failer interface {
	Failed() <-chan error
}

// Error says which part failed and in which phase.
type Error struct {
	Part  string
	Phase string
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.Part, e.Phase, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// StopTimeout bounds how long each part may take to stop.
const StopTimeout = 15 * time.Second

// Run starts parts in order, waiting for each to be ready before the next,
// then blocks until ctx ends or a part fails, and stops the started parts in
// reverse order. onReady, if not nil, is called once every part is ready.
// The error names the part that failed; a clean shutdown returns nil.
func Run(ctx context.Context, parts []Component, onReady func()) error {
	// The parts run on a context of their own that ends only after each has
	// been stopped in turn: were it ctx, a signal would cancel them all at
	// once and the datastore could vanish under a stopping apiserver.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()

	failed := make(chan error, len(parts))
	var started []Component
	defer func() { stopAll(started) }()

	record := func(p Component) { started = append(started, p) }
	if err := startInOrder(runCtx, ctx, parts, failed, record); err != nil {
		if ctx.Err() != nil {
			return nil // asked to stop while starting: a clean stop
		}
		return err
	}
	if onReady != nil {
		onReady()
	}

	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	}
}

// startInOrder starts parts on ctx, each once the one before is ready,
// hands each to started once it has started (it must be stopped from then
// on), and watches the Failers among them on failed. It gives up when stop
// ends, or with the first part that cannot start or get ready.
func startInOrder(ctx, stop context.Context, parts []Component, failed chan error, started func(Component)) error {
	for _, p := range parts {
		if stop.Err() != nil {
			return stop.Err()
		}
		klog.V(1).InfoS("Starting part", "part", p.Name())
		if err := p.Start(ctx); err != nil {
			return &Error{Part: p.Name(), Phase: "start", Err: err}
		}
		started(p)
		if f, ok := p.(Failer); ok {
			go watch(ctx, p.Name(), f, failed)
		}
		if err := waitReady(ctx, stop, p, failed); err != nil {
			return err
		}
		klog.InfoS("Part ready", "part", p.Name())
	}
	return nil
}

// waitReady waits for p on ctx, the parts' own context, and gives up early
// when stop (the caller's context) ends, so a signal during start-up is
// heard at once.
func waitReady(ctx, stop context.Context, p Component, failed <-chan error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-stop.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	done := make(chan error, 1)
	go func() { done <- p.Ready(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &Error{Part: p.Name(), Phase: "ready", Err: err}
		}
		return nil
	case err := <-failed:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func watch(ctx context.Context, name string, f Failer, failed chan<- error) {
	select {
	case err, ok := <-f.Failed():
		if !ok || err == nil {
			err = errors.New("stopped unexpectedly")
		}
		// A group's parts name themselves (see Background).
		var named *Error
		if !errors.As(err, &named) {
			err = &Error{Part: name, Phase: "run", Err: err}
		}
		failed <- err
	case <-ctx.Done():
	}
}

func stopAll(started []Component) {
	for i := len(started) - 1; i >= 0; i-- {
		p := started[i]
		ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
		if err := p.Stop(ctx); err != nil {
			klog.ErrorS(err, "Stopping part", "part", p.Name())
		} else {
			klog.V(1).InfoS("Stopped part", "part", p.Name())
		}
		cancel()
	}
}
