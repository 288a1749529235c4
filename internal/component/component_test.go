package component

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

type fake struct {
	name     string
	rec      *recorder
	startErr error
	ready    chan struct{} // nil: ready at once
	failed   chan error
}

func (f *fake) Name() string { return f.name }
func (f *fake) Start(context.Context) error {
	f.rec.add("start " + f.name)
	return f.startErr
}
func (f *fake) Ready(ctx context.Context) error {
	if f.ready == nil {
		return nil
	}
	select {
	case <-f.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (f *fake) Stop(context.Context) error { f.rec.add("stop " + f.name); return nil }

type failing struct{ *fake }

func (f failing) Failed() <-chan error { return f.failed }

func TestRunStartsInOrderAndStopsInReverse(t *testing.T) {
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	parts := []Component{&fake{name: "a", rec: rec}, &fake{name: "b", rec: rec}, &fake{name: "c", rec: rec}}
	err := Run(ctx, parts, func() { rec.add("ready"); cancel() })
	if err != nil {
		t.Fatalf("a clean stop returned %v", err)
	}
	want := []string{"start a", "start b", "start c", "ready", "stop c", "stop b", "stop a"}
	if got := rec.list(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestRunNamesThePartThatFailsToStart(t *testing.T) {
	rec := &recorder{}
	parts := []Component{&fake{name: "a", rec: rec}, &fake{name: "b", rec: rec, startErr: errors.New("boom")}, &fake{name: "c", rec: rec}}
	err := Run(context.Background(), parts, nil)
	var perr *Error
	if !errors.As(err, &perr) || perr.Part != "b" || perr.Phase != "start" || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("error %v, want one naming part b at start", err)
	}
	// b never started, so only a is stopped; c is never touched.
	want := []string{"start a", "start b", "stop a"}
	if got := rec.list(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestRunStopsTheRoleWhenAPartFailsLater(t *testing.T) {
	rec := &recorder{}
	f := failing{&fake{name: "worker", rec: rec, failed: make(chan error, 1)}}
	go func() { time.Sleep(20 * time.Millisecond); f.failed <- errors.New("crashed") }()
	err := Run(context.Background(), []Component{&fake{name: "a", rec: rec}, f}, nil)
	var perr *Error
	if !errors.As(err, &perr) || perr.Part != "worker" || perr.Phase != "run" {
		t.Fatalf("error %v, want one naming worker at run", err)
	}
	if got := rec.list(); got[len(got)-1] != "stop a" {
		t.Fatalf("events %v: a was not stopped last", got)
	}
}

func TestRunStopsAtOnceWhenCancelledWhileWaitingForReady(t *testing.T) {
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	slow := &fake{name: "slow", rec: rec, ready: make(chan struct{})}
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []Component{slow, &fake{name: "never", rec: rec}}, nil) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a stop during start-up returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancellation during start-up")
	}
	want := []string{"start slow", "stop slow"}
	if got := rec.list(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}
