// Package memory keeps a long-lived role lean. A node spends most of its
// life idle, where a smaller heap and fewer resident pages of a 200 MB
// executable are what users see. Start-up keeps Go's GC headroom for
// speed; after it, the governor sets the GC for work and for idling (see
// Defaults for why both are lean) and, once the process idles, hands free
// memory and executable pages back to the kernel.
package memory

import (
	"context"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// Settings of the governor. A user's GOGC or GOMEMLIMIT always wins over
// the GC percents.
type Settings struct {
	// BusyGCPercent and IdleGCPercent are GOGC while busy (Go's default is
	// 100) and while idle.
	BusyGCPercent, IdleGCPercent int
	// BusyCPU and IdleCPU are the process's CPU use, in cores: above
	// BusyCPU over the last BusyWindow it is busy (soon: a burst of pod
	// starts should not wait on the GC), below IdleCPU over the last
	// IdleWindow it is idle (an average, so that periodic work and the
	// collections themselves do not count as bursts); in between it stays
	// as it was.
	BusyCPU, IdleCPU       float64
	BusyWindow, IdleWindow time.Duration
	// Interval is how often the CPU use is sampled.
	Interval time.Duration
	// Settle is how long after start the process counts as busy whatever
	// its CPU use: the controllers' first full resync allocates heavily.
	Settle time.Duration
}

// Defaults, measured on a 2-core node with 50 pods: the server idles at
// about 0.1 core and starts pods at 0.5 or more.
//
// Start-up runs with Go's default GOGC=100 (the governor begins once the
// role is ready), and after that bursts run with 25. The heap a burst
// grows into stays resident after it: the objects that outlive the burst
// (each pod in every informer and cache) are scattered over its spans,
// and Go never moves them. Measured with 50 pods created one after
// another and then 50 at once: skiff + containerd idled at ~398 MiB with
// bursts at 50 and 383 MiB at 25 (with 100, a burst left ~70 MB of partly
// used spans), with no burst latency difference above run-to-run noise: a
// burst is bound by containerd, runc and disk syncs.
//
// Idle runs with 10: the idle heap grows by GOGC percent of ~130 MB live
// between collections, and where in that cycle RSS is read swung the
// figure by ±5 MiB. Over runs of the node benchmark on one VM, skiff +
// containerd idled at 367-380 MiB (median 371, 14 runs) with 10 against
// 375-384 (median 380, 18 runs) with 25, for ~0.01 core more of idle
// server CPU (0.041-0.050 against 0.036).
var Defaults = Settings{
	BusyGCPercent: 25,
	IdleGCPercent: 10,
	BusyCPU:       0.4,
	IdleCPU:       0.2,
	BusyWindow:    3 * time.Second,
	IdleWindow:    15 * time.Second,
	Interval:      time.Second,
	Settle:        10 * time.Second,
}

// Govern runs the governor until ctx ends, starting busy. helpers, if not
// nil, lists the pids of long-lived helper processes (containerd) whose
// executable pages are released along with this process's when it turns
// idle.
func Govern(ctx context.Context, s Settings, helpers func() []int) {
	tuneGC := os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == ""
	if tuneGC {
		debug.SetGCPercent(s.BusyGCPercent)
	} else {
		klog.V(1).InfoS("Leaving the Go runtime as GOGC/GOMEMLIMIT set it")
	}
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.Settle):
		}
		t := time.NewTicker(s.Interval)
		defer t.Stop()
		idle := false
		busyN, idleN := samples(s.BusyWindow, s.Interval), samples(s.IdleWindow, s.Interval)
		// CPU time at each of the last idleN+1 ticks, oldest first.
		marks := []mark{{cpuTime(), time.Now()}}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			marks = append(marks, mark{cpuTime(), time.Now()})
			if len(marks) > idleN+1 {
				marks = marks[1:]
			}
			switch {
			case !idle && len(marks) == idleN+1 && cores(marks, idleN) < s.IdleCPU:
				idle = true
				if tuneGC {
					debug.SetGCPercent(s.IdleGCPercent)
				}
				release(helpers)
				klog.V(1).InfoS("Idle: keeping memory low", "cores", cores(marks, idleN), "gcPercent", s.IdleGCPercent)
			case idle && cores(marks, busyN) > s.BusyCPU:
				idle = false
				if tuneGC {
					debug.SetGCPercent(s.BusyGCPercent)
				}
				klog.V(1).InfoS("Busy: giving the heap room", "cores", cores(marks, busyN), "gcPercent", s.BusyGCPercent)
			}
		}
	}()
}

// release hands back to the kernel what start-up or a burst left behind:
// the heap's free pages, and the executable pages of this process and of
// the helpers, which are faulted back in from the page cache as they are
// used again.
func release(helpers func() []int) {
	debug.FreeOSMemory()
	if err := pageOutExecutable(os.Getpid()); err != nil {
		klog.V(1).InfoS("Could not release the executable's pages", "err", err)
	}
	if helpers == nil {
		return
	}
	for _, pid := range helpers() {
		if err := pageOutExecutable(pid); err != nil {
			klog.V(1).InfoS("Could not release a helper's executable pages", "pid", pid, "err", err)
		}
	}
}

// mark is the process's CPU time at a moment.
type mark struct {
	cpu time.Duration
	at  time.Time
}

// cores is the CPU use over the last n intervals of marks (all of them if
// there are fewer), in cores.
func cores(marks []mark, n int) float64 {
	first, last := marks[max(0, len(marks)-1-n)], marks[len(marks)-1]
	wall := last.at.Sub(first.at).Seconds()
	if wall <= 0 {
		return 0
	}
	return (last.cpu - first.cpu).Seconds() / wall
}

// samples is how many intervals make a window (at least one).
func samples(window, interval time.Duration) int {
	return max(1, int(window/interval))
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
