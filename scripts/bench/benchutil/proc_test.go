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
