package benchutil

import (
	"os"
	"testing"
	"time"
)

func TestProcStat(t *testing.T) {
	if pp, ok := PPID(os.Getpid()); !ok || pp != os.Getppid() {
		t.Errorf("PPID = %d, %v; want %d", pp, ok, os.Getppid())
	}
	before := CPUSeconds(os.Getpid())
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	if used := CPUSeconds(os.Getpid()) - before; used < 0.1 || used > 5 {
		t.Errorf("CPUSeconds grew by %.2f s over a 0.3 s busy loop", used)
	}
}

func TestUsage(t *testing.T) {
	a := Usage{N: 1, RSS: 10, Anon: 4, PSS: 6, CPU: 2}
	b := Usage{N: 3, RSS: 20, Anon: 8, PSS: 12, CPU: 4}
	if got, want := a.Plus(b), (Usage{N: 4, RSS: 30, Anon: 12, PSS: 18, CPU: 6}); got != want {
		t.Errorf("Plus = %+v, want %+v", got, want)
	}
	if got, want := b.Per(2), (Usage{N: 1, RSS: 10, Anon: 4, PSS: 6, CPU: 2}); got != want {
		t.Errorf("Per(2) = %+v, want %+v", got, want)
	}
	if got := b.Per(0); got != (Usage{}) {
		t.Errorf("Per(0) = %+v, want zero", got)
	}
	if got := b.Cores(a, 4); got != 0.5 {
		t.Errorf("Cores over 4 s = %v, want 0.5", got)
	}
	if got := b.Cores(a, 0); got != 0 {
		t.Errorf("Cores over 0 s = %v, want 0", got)
	}
}

func TestHasFlag(t *testing.T) {
	argv := []string{"containerd", "--config", "c.toml", "--address", SkiffSocket}
	if !HasFlag(argv, "--address", SkiffSocket) {
		t.Error("flag followed by its value not found")
	}
	if HasFlag(argv, "--address", "/run/containerd/containerd.sock") {
		t.Error("another value matched")
	}
	if HasFlag([]string{"x", SkiffSocket, "--address"}, "--address", SkiffSocket) {
		t.Error("a flag at the end, without a value, matched")
	}
}
