package ha

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// writer creates ConfigMaps through the servers in turn, as a client that
// knows every server would: a create that fails is sent to the next
// server, and one whose first try timed out but that then answers
// AlreadyExists was stored all the same. Acked holds every create that
// was acknowledged.
type writer struct {
	ns      string
	clients []kubernetes.Interface
	acked   sync.Map // name → struct{}
	n       atomic.Int32
	errs    atomic.Int32
}

// run creates total ConfigMaps with workers goroutines; it returns the
// names it gave up on (none unless no server answered for a minute).
func (w *writer) run(ctx context.Context, total, workers int) []string {
	var mu sync.Mutex
	var lost []string
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < total; i += workers {
				name := fmt.Sprintf("w-%04d", i)
				if !w.create(ctx, name, i) {
					mu.Lock()
					lost = append(lost, name)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return lost
}

func (w *writer) create(ctx context.Context, name string, i int) bool {
	deadline := time.Now().Add(time.Minute)
	for try := 0; time.Now().Before(deadline) && ctx.Err() == nil; try++ {
		c := w.clients[(i+try)%len(w.clients)]
		_, err := c.CoreV1().ConfigMaps(w.ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Data:       map[string]string{"i": fmt.Sprint(i)},
		}, metav1.CreateOptions{})
		if err == nil || (try > 0 && apierrors.IsAlreadyExists(err)) {
			w.acked.Store(name, struct{}{})
			w.n.Add(1)
			return true
		}
		w.errs.Add(1)
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
