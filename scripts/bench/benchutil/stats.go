package benchutil

import (
	"fmt"
	"slices"
	"time"
)

// Spread is the median, min and max of ds (zeros when empty); the median
// of an even count is the upper middle one, a time that was measured.
func Spread(ds []time.Duration) (median, lo, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[0], s[len(s)-1]
}

// FmtSpread prints ds as "median 1.23s (min 1.00s, max 2.00s, 3 runs)".
func FmtSpread(ds []time.Duration, unit string) string {
	med, lo, hi := Spread(ds)
	return fmt.Sprintf("median %s (min %s, max %s, %d %s)", FmtDur(med), FmtDur(lo), FmtDur(hi), len(ds), unit)
}
