package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// pad makes each ConfigMap about the size of a small real one.
var pad = strings.Repeat("x", 512)

// throughput creates ops ConfigMaps from clients goroutines, then updates
// each once, and reports the mutating calls per second over both phases
// and each phase's latency percentiles.
func throughput(ctx context.Context, c kubernetes.Interface, clients, ops int) (string, error) {
	cms, err := namespace(ctx, c, "bench-tput")
	if err != nil {
		return "", err
	}
	per := ops / clients
	objs := make([][]*corev1.ConfigMap, clients)
	begin := time.Now()
	creates, err := parallel(clients, per, func(w, i int) error {
		cm, err := cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tput-%d-%d", w, i)},
			Data:       map[string]string{"v": "0", "pad": pad},
		}, metav1.CreateOptions{})
		objs[w] = append(objs[w], cm)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("creating: %w", err)
	}
	createTime := time.Since(begin)
	updates, err := parallel(clients, per, func(w, i int) error {
		cm := objs[w][i]
		cm.Data["v"] = "1"
		_, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("updating: %w", err)
	}
	total := time.Since(begin)
	return fmt.Sprintf("%.0f mutating calls/s; creates %s (%.0f/s); updates %s (%.0f/s)",
		float64(len(creates)+len(updates))/total.Seconds(),
		percentiles(creates), float64(len(creates))/createTime.Seconds(),
		percentiles(updates), float64(len(updates))/(total-createTime).Seconds()), nil
}

// churn creates objects ConfigMaps and updates them in turn, total times
// from clients goroutines, reading the store's size after the first 1,000
// updates, every 5,000 after, and at the end.
func churn(ctx context.Context, c kubernetes.Interface, clients, objects, total int, size func() (int64, error)) (string, error) {
	cms, err := namespace(ctx, c, "bench-churn")
	if err != nil {
		return "", err
	}
	objs := make([]*corev1.ConfigMap, objects)
	if _, err := parallel(clients, (objects+clients-1)/clients, func(w, i int) error {
		n := i*clients + w
		if n >= objects {
			return nil
		}
		cm, err := cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("churn-%03d", n)},
			Data:       map[string]string{"v": "0", "pad": pad},
		}, metav1.CreateOptions{})
		objs[n] = cm
		return err
	}); err != nil {
		return "", fmt.Errorf("creating: %w", err)
	}
	objs = slices.DeleteFunc(objs, func(cm *corev1.ConfigMap) bool { return cm == nil })
	// Each client updates its own objects, in turn, so that no update
	// conflicts with another.
	next := make([]int, clients)
	update := func(count int) error {
		_, err := parallel(clients, count/clients, func(w, _ int) error {
			mine := (len(objs) - w + clients - 1) / clients
			k := w + (next[w]%mine)*clients
			next[w]++
			objs[k].Data["v"] = fmt.Sprint(next[w])
			cm, err := cms.Update(ctx, objs[k], metav1.UpdateOptions{})
			if err == nil {
				objs[k] = cm
			}
			return err
		})
		return err
	}
	begin := time.Now()
	if err := update(1000); err != nil {
		return "", err
	}
	first, err := size()
	if err != nil {
		return "", fmt.Errorf("reading the store's size: %w", err)
	}
	largest, done := first, 1000
	trace := []string{fmt.Sprintf("%.0f", float64(first)/(1<<20))}
	for done < total {
		step := min(5000, total-done)
		if err := update(step); err != nil {
			return "", err
		}
		done += step
		n, err := size()
		if err != nil {
			return "", fmt.Errorf("reading the store's size: %w", err)
		}
		largest = max(largest, n)
		trace = append(trace, fmt.Sprintf("%.0f", float64(n)/(1<<20)))
	}
	took := time.Since(begin)
	last, err := size()
	if err != nil {
		return "", fmt.Errorf("reading the store's size: %w", err)
	}
	return fmt.Sprintf("size %s after 1,000 updates, %s after %d (%.1f×), largest seen %s (%.1f×); %d updates in %s (%.0f/s)\n"+label+" MiB after 1,000, then every 5,000: %s",
		mib(first), mib(last), total, float64(last)/float64(first), mib(largest), float64(largest)/float64(first),
		total, took.Round(time.Second), float64(total)/took.Seconds(), "", strings.Join(trace, " ")), nil
}

func namespace(ctx context.Context, c kubernetes.Interface, name string) (interface {
	Create(context.Context, *corev1.ConfigMap, metav1.CreateOptions) (*corev1.ConfigMap, error)
	Update(context.Context, *corev1.ConfigMap, metav1.UpdateOptions) (*corev1.ConfigMap, error)
}, error) {
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return c.CoreV1().ConfigMaps(name), nil
}

// parallel runs call(w, i) for i < per in each of clients goroutines w,
// and returns every call's latency; the first error stops it.
func parallel(clients, per int, call func(w, i int) error) ([]time.Duration, error) {
	var (
		mu    sync.Mutex
		lats  []time.Duration
		first error
		wg    sync.WaitGroup
	)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, per)
			for i := range per {
				start := time.Now()
				err := call(w, i)
				mine = append(mine, time.Since(start))
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					break
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lats, first
}

func percentiles(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", ms(at(0.50)), ms(at(0.99)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
