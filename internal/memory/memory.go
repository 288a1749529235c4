// Package memory tunes the Go runtime for a long-lived, mostly idle server:
// start-up allocates freely (a tight heap would slow it down), and once the
// role is ready the heap is kept closer to what is live, and what start-up
// left behind is given back to the operating system.
package memory

import (
	"context"
	"os"
	"runtime/debug"
	"time"

	"k8s.io/klog/v2"
)

// Settings for the idle phase. A user's GOGC or GOMEMLIMIT always wins.
type Settings struct {
	// GCPercent replaces GOGC once ready (100 is Go's default).
	GCPercent int
	// Settle is how long after ready the start-up garbage is released: the
	// controllers' first full resync allocates heavily just after start.
	Settle time.Duration
}

// Defaults halve the heap's headroom; the extra GC cycles cost little on an
// idle control plane and save tens of megabytes.
var Defaults = Settings{GCPercent: 50, Settle: 10 * time.Second}

// TuneWhenIdle applies s once, Settle after it is called, unless ctx ends.
func TuneWhenIdle(ctx context.Context, s Settings) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		klog.V(1).InfoS("Leaving the Go runtime as GOGC/GOMEMLIMIT set it")
		return
	}
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.Settle):
		}
		debug.SetGCPercent(s.GCPercent)
		debug.FreeOSMemory()
		if _, err := pageOutExecutable(); err != nil {
			klog.V(1).InfoS("Could not release the executable's pages", "err", err)
		}
		klog.V(1).InfoS("Tuned the Go runtime for idle", "gcPercent", s.GCPercent)
	}()
}

// ReleaseExecutableAfter drops this process's mappings of the skiff
// executable once start-up is over, for the long-lived helper processes the
// binary also becomes (containerd, the runc shims): each starts by running
// every package's initialisation over a large binary, and the kernel keeps
// those pages mapped (often as huge pages) long after they are needed.
func ReleaseExecutableAfter(d time.Duration) {
	go func() {
		time.Sleep(d)
		debug.FreeOSMemory()
		_, _ = pageOutExecutable()
	}()
}
