package component

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The group's parts start while the parts after start do, the part after
// await waits for them, and everything stops in reverse order.
func TestBackgroundOverlapsAndStopsInReverse(t *testing.T) {
	rec := &recorder{}
	slow := &fake{name: "slow", rec: rec, ready: make(chan struct{})}
	start, await := Background("group", slow, &fake{name: "after-slow", rec: rec})
	middle := &fake{name: "middle", rec: rec}
	last := &fake{name: "last", rec: rec}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- Run(ctx, []Component{start, middle, await, last}, func() { close(ready) })
	}()

	waitFor(t, func() bool { return contains(rec.list(), "start middle") })
	if contains(rec.list(), "start last") {
		t.Fatalf("last started before the group was ready: %v", rec.list())
	}
	close(slow.ready)
	<-ready
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := rec.list()
	want := []string{"stop last", "stop middle", "stop after-slow", "stop slow"}
	if !reflect.DeepEqual(got[len(got)-4:], want) {
		t.Fatalf("stop order = %v, want it to end with %v", got, want)
	}
}

// A part of the group that cannot start fails the role at await, named.
func TestBackgroundStartErrorFailsAtAwait(t *testing.T) {
	rec := &recorder{}
	start, await := Background("group", &fake{name: "broken", rec: rec, startErr: errors.New("no socket")})
	err := Run(context.Background(), []Component{start, &fake{name: "middle", rec: rec}, await, &fake{name: "last", rec: rec}}, nil)
	if err == nil || !strings.Contains(err.Error(), "broken: start: no socket") {
		t.Fatalf("Run = %v, want the broken part's start error", err)
	}
	if contains(rec.list(), "start last") {
		t.Fatalf("last started after the group failed: %v", rec.list())
	}
}

// A part of the group that fails while running stops the whole role.
func TestBackgroundPartFailureStopsRole(t *testing.T) {
	rec := &recorder{}
	f := failing{&fake{name: "runtime", rec: rec, failed: make(chan error, 1)}}
	start, await := Background("group", f)
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() { done <- Run(context.Background(), []Component{start, await}, func() { close(ready) }) }()
	<-ready
	f.failed <- errors.New("exited")
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "runtime: run: exited") {
			t.Fatalf("Run = %v, want the runtime's failure", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the role did not stop after a part of the group failed")
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ctxPart records whether the context it was started with had ended by
// the time it was stopped.
type ctxPart struct {
	ctx         context.Context
	endedAtStop bool
}

func (p *ctxPart) Name() string                    { return "ctx-part" }
func (p *ctxPart) Start(ctx context.Context) error { p.ctx = ctx; return nil }
func (p *ctxPart) Ready(context.Context) error     { return nil }
func (p *ctxPart) Stop(context.Context) error      { p.endedAtStop = p.ctx.Err() != nil; return nil }

// As in Run, a group's parts keep their context until they are stopped:
// a containerd supervisor must not see it end first.
func TestBackgroundPartsKeepContextUntilStopped(t *testing.T) {
	p := &ctxPart{}
	start, await := Background("group", p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() { done <- Run(ctx, []Component{start, await}, func() { close(ready) }) }()
	<-ready
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if p.endedAtStop {
		t.Fatal("the part's context had ended before it was stopped")
	}
}
