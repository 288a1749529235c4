package control

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// goroutine runs one upstream component's blocking Run in the background and
// turns its ending into the lifecycle's terms: an ending skiff did not ask
// for is a failure; Stop cancels it and waits for it to return.
type goroutine struct {
	cancel context.CancelFunc
	done   chan struct{}
	failed chan error
	once   sync.Once
}

func newGoroutine() *goroutine {
	return &goroutine{done: make(chan struct{}), failed: make(chan error, 1), cancel: func() {}}
}

// start runs fn with a context that Stop cancels.
func (g *goroutine) start(parent context.Context, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(parent)
	g.cancel = cancel
	go func() {
		defer close(g.done)
		err := fn(ctx)
		if ctx.Err() != nil {
			return // asked to stop
		}
		if err == nil {
			err = errors.New("returned without being asked to stop")
		}
		g.failed <- err
	}()
}

func (g *goroutine) Failed() <-chan error { return g.failed }

// stop cancels the component and waits for it until ctx ends.
func (g *goroutine) stop(ctx context.Context) error {
	g.once.Do(g.cancel)
	select {
	case <-g.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("did not stop in time: %w", ctx.Err())
	}
}
