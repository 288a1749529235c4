package benchutil

import (
	"testing"
	"time"
)

func TestSpread(t *testing.T) {
	s := time.Second
	med, lo, hi := Spread([]time.Duration{3 * s, 1 * s, 4 * s, 2 * s})
	if med != 3*s || lo != s || hi != 4*s {
		t.Errorf("Spread = %v %v %v, want the upper middle 3s, 1s, 4s", med, lo, hi)
	}
	if med, lo, hi := Spread(nil); med != 0 || lo != 0 || hi != 0 {
		t.Errorf("Spread(nil) = %v %v %v", med, lo, hi)
	}
	if got := FmtSpread([]time.Duration{2 * s, s, 3 * s}, "runs"); got != "median 2.00s (min 1.00s, max 3.00s, 3 runs)" {
		t.Errorf("FmtSpread = %q", got)
	}
}
