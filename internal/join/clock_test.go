package join

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/internal/pki"
	"github.com/skiff-k8s/skiff/internal/token"
)

func TestClockOffsetCountsOnlyCertainSkew(t *testing.T) {
	sent := time.Date(2026, 12, 6, 10, 0, 0, 300e6, time.UTC)
	received := sent.Add(400 * time.Millisecond) // 10:00:00.7
	for _, tc := range []struct {
		name string
		date time.Time
		want time.Duration
	}{
		// The server wrote 10:00:00 during the request: its clock read
		// 10:00:00.x, which may well be ours.
		{"same second", sent.Truncate(time.Second), 0},
		// The header's whole seconds and the latency are not counted:
		// 09:59:59 means at most 09:59:59.999 while ours read 10:00:00.3.
		{"a second behind", sent.Truncate(time.Second).Add(-time.Second), -300 * time.Millisecond},
		{"ahead", sent.Truncate(time.Second).Add(90 * time.Second), 90*time.Second - 700*time.Millisecond},
		{"behind", sent.Truncate(time.Second).Add(-90 * time.Second), -(89*time.Second + 300*time.Millisecond)},
	} {
		if got := clockOffset(tc.date, sent, received); got != tc.want {
			t.Errorf("%s: clockOffset(%s) = %s, want %s", tc.name, tc.date.Format("15:04:05"), got, tc.want)
		}
	}
}

// TestConnectMeasuresTheServersClock: the offset comes from the Date header
// of the server's /cacerts answer.
func TestConnectMeasuresTheServersClock(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.EnsureCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	for _, skew := range []time.Duration{-5 * time.Minute, 0, 2 * time.Minute} {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
			w.Write(ca.CertPEM)
		}))
		c, err := Connect(context.Background(), srv.URL, token.Token{Password: "s"}, Identity{})
		srv.Close()
		if err != nil {
			t.Fatalf("skew %s: %v", skew, err)
		}
		offset, ok := c.ClockOffset()
		if d := offset - skew; !ok || d < -2*time.Second || d > 2*time.Second {
			t.Errorf("a server %s ahead measured %s ahead (known: %v)", skew, offset, ok)
		}
	}
}
