package benchutil

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestKlogTime(t *testing.T) {
	near := time.Date(2026, 11, 27, 10, 0, 0, 0, time.Local)
	got, ok := klogTime("I1127 10:00:03.250000    4242 server.go:88] \"skiff server is ready\"", near)
	if want := near.Add(3250 * time.Millisecond); !ok || !got.Equal(want) {
		t.Errorf("klogTime = %v, %v; want %v", got, ok, want)
	}
	for _, l := range []string{"", "skiff server is ready", "I1127", "Ixx27 10:00:03.250000 x"} {
		if _, ok := klogTime(l, near); ok {
			t.Errorf("klogTime(%q) found a time", l)
		}
	}
}

func TestLogTime(t *testing.T) {
	began := time.Date(2026, 11, 27, 10, 0, 0, 0, time.Local)
	path := filepath.Join(t.TempDir(), "server.log")
	log := "I1127 10:00:01.000000 1 a.go:1] starting\n" +
		"plain output without a header\n" +
		"I1127 10:00:03.500000 1 a.go:2] skiff server is ready\n" +
		"I1127 10:00:09.000000 1 a.go:2] skiff server is ready\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := LogTime(path, "skiff server is ready", began); got != 3500*time.Millisecond {
		t.Errorf("LogTime = %v, want the first line's 3.5s", got)
	}
	if got := LogTime(path, "never logged", began); got != 0 {
		t.Errorf("LogTime of a missing line = %v, want 0", got)
	}
}
