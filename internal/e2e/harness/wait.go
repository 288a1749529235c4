package harness

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// Poll calls f every interval until it returns true or ctx ends; it returns
// the last error f gave (for the failure message) and whether f succeeded.
func Poll(ctx context.Context, interval time.Duration, f func() (bool, error)) (bool, error) {
	var last error
	for {
		ok, err := f()
		if ok {
			return true, nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return false, last
		case <-time.After(interval):
		}
	}
}

// Within is a context for one wait of a test.
func Within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// HTTPGet GETs url with hc and returns the status code and (up to 1 MiB of)
// the body.
func HTTPGet(hc *http.Client, url string) (int, string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}
