package component

import (
	"context"
	"sync"
)

// Background runs parts in order on a goroutine of their own, so that
// slow parts that need nothing from the parts around them (unpacking the
// runtime, starting containerd, importing images) get ready while the role
// goes on starting the rest. Place start where the parts may begin and
// await where the next part needs them: await is ready once every one of
// them is, or fails with the first part that could not start.
//
// The parts stop when start stops, in reverse order, after waiting for a
// start-up still under way; start's Failed reports a part that fails while
// running.
func Background(name string, parts ...Component) (start, await Component) {
	b := &background{name: name, parts: parts, done: make(chan struct{}), failed: make(chan error, len(parts)+1)}
	return b, &awaitBackground{b: b}
}

type background struct {
	name   string
	parts  []Component
	done   chan struct{} // closed when start-up ended, well or not
	failed chan error

	mu      sync.Mutex
	err     error // why start-up ended early
	started []Component
	// cutStart gives up a start-up still under way; endParts ends the
	// parts' own context, only once they have been stopped (as in Run).
	cutStart, endParts context.CancelFunc
}

var _ Failer = (*background)(nil)

func (b *background) Name() string { return b.name }

func (b *background) Start(ctx context.Context) error {
	partsCtx, endParts := context.WithCancel(ctx)
	stop, cutStart := context.WithCancel(ctx)
	b.cutStart, b.endParts = cutStart, endParts
	go func() {
		defer close(b.done)
		b.setErr(b.startAll(partsCtx, stop))
	}()
	return nil
}

// startAll is Run's start-up for the group.
func (b *background) startAll(ctx, stop context.Context) error {
	return startInOrder(ctx, stop, b.parts, b.failed, func(p Component) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.started = append(b.started, p)
	})
}

func (b *background) setErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
}

// Ready is at once: the group's readiness is await's.
func (b *background) Ready(context.Context) error { return nil }

func (b *background) Failed() <-chan error { return b.failed }

func (b *background) Stop(ctx context.Context) error {
	if b.cutStart == nil {
		return nil
	}
	defer b.endParts()
	b.cutStart()
	select {
	case <-b.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	started := b.started
	b.mu.Unlock()
	stopAll(started)
	return nil
}

type awaitBackground struct{ b *background }

func (a *awaitBackground) Name() string                { return a.b.name }
func (a *awaitBackground) Start(context.Context) error { return nil }
func (a *awaitBackground) Stop(context.Context) error  { return nil }

func (a *awaitBackground) Ready(ctx context.Context) error {
	select {
	case <-a.b.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	a.b.mu.Lock()
	defer a.b.mu.Unlock()
	return a.b.err
}
