package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// writer sends a ConfigMap create through each of its servers every
// interval, without waiting for the ones before: a create stuck while no
// member leads does not hold back the next, so the first write a server
// answers after the kill is seen within about one interval of when it
// could be.
type writer struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	answers map[int][]span // by server: the creates it answered
	errs    map[int]error  // by server: its last failure
	failed  int
}

// span is one answered create: when it was sent and when it was answered.
type span struct{ sent, answered time.Time }

func startWriter(ctx context.Context, clients []kubernetes.Interface, servers []int, run int, interval time.Duration) *writer {
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{cancel: cancel, answers: map[int][]span{}, errs: map[int]error{}}
	for _, i := range servers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for n := 0; ; n++ {
				w.wg.Add(1)
				go func() {
					defer w.wg.Done()
					w.create(ctx, clients[i], i, fmt.Sprintf("r%d-s%d-%05d", run, i+1, n))
				}()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	return w
}

func (w *writer) create(ctx context.Context, c kubernetes.Interface, server int, name string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sent := time.Now()
	_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Data:       map[string]string{"sent": sent.Format(time.RFC3339Nano)},
	}, metav1.CreateOptions{})
	answered := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		w.answers[server] = append(w.answers[server], span{sent, answered})
	case errors.Is(ctx.Err(), context.Canceled):
		// Cut off by stop, not failed.
	default:
		w.errs[server] = err
		w.failed++
	}
}

// firstAfter is when server first answered a create sent at or after t.
func (w *writer) firstAfter(server int, t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first time.Time
	for _, s := range w.answers[server] {
		if !s.sent.Before(t) && (first.IsZero() || s.answered.Before(first)) {
			first = s.answered
		}
	}
	return first, !first.IsZero()
}

// lastErr says how server's last create failed.
func (w *writer) lastErr(server int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.errs[server]; err != nil {
		return "last failure: " + err.Error()
	}
	return "no create failed"
}

// counts are the creates answered and failed so far.
func (w *writer) counts() (answered, failed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.answers {
		answered += len(a)
	}
	return answered, w.failed
}

// stop cuts off the creates in flight and waits for them; it may be
// called again.
func (w *writer) stop() {
	w.cancel()
	w.wg.Wait()
}
