package memory

import (
	"context"
	"runtime/debug"
	"testing"
	"time"
)

// gcPercent reads GOGC as the runtime has it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// An idle process gets the idle GC percent; one that keeps a core busy
// gets the busy one back.
func TestGovernSwitchesWithCPUUse(t *testing.T) {
	// The governor leaves the GC alone when the user set either.
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetGCPercent(gcPercent())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	debug.SetGCPercent(100)
	s := Settings{BusyGCPercent: 50, IdleGCPercent: 25, BusyCPU: 0.4, IdleCPU: 0.2, Interval: 100 * time.Millisecond, BusyWindow: 200 * time.Millisecond, IdleWindow: 300 * time.Millisecond, Settle: time.Second}
	Govern(ctx, s, nil)
	// It starts busy, whatever the runtime had.
	if p := gcPercent(); p != 50 {
		t.Fatalf("GOGC is %d right after Govern, want the busy 50", p)
	}

	waitPercent(t, 25, "idle")

	busy, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for busy.Err() == nil {
			for i := 0; i < 1e6; i++ {
				_ = i * i
			}
		}
	}()
	waitPercent(t, 50, "busy")
}

func waitPercent(t *testing.T, want int, state string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for gcPercent() != want {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d, want %d once %s", gcPercent(), want, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
