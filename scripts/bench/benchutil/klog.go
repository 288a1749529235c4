package benchutil

import (
	"bufio"
	"os"
	"strings"
	"time"
)

// LogTime is when a line containing s was first written to the log at
// path, relative to began, from klog's timestamp (0 if not found).
func LogTime(path, s string, began time.Time) time.Duration {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, s) {
			continue
		}
		t, ok := klogTime(l, began)
		if !ok {
			return 0
		}
		return t.Sub(began)
	}
	return 0
}

// klogTime is the time of a klog line ("Lmmdd hh:mm:ss.uuuuuu ..."), in
// the local zone; klog leaves out the year, which is taken from near.
func klogTime(line string, near time.Time) (time.Time, bool) {
	f := strings.Fields(line)
	if len(f) < 2 || len(f[0]) != 5 {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("0102 15:04:05.000000", f[0][1:]+" "+f[1], time.Local)
	if err != nil {
		return time.Time{}, false
	}
	return time.Date(near.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.Local), true
}
