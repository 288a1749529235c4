package harness

import (
	"fmt"
	"os"
	"strings"
)

// LogNoise marks log lines that repeat by the hundred while a component
// retries, and would push everything useful out of the tail: gRPC's
// reconnects, and the etcd client's retries of one call (up to 100, 25 ms
// apart, each a line).
var LogNoise = []string{"addrConn.createTransport failed to connect", "retrying of unary invoker failed"}

// TailFile returns the last n lines of a log, without noise lines (it says
// how many it left out).
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	var kept []string
	dropped := 0
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if containsAny(l, LogNoise) {
			dropped++
			continue
		}
		kept = append(kept, l)
	}
	out := TailString(strings.Join(kept, "\n"), n)
	if dropped > 0 {
		out += fmt.Sprintf("\n(%d lines matching %q left out)", dropped, LogNoise)
	}
	return out
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TailString is the last n lines of s.
func TailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
