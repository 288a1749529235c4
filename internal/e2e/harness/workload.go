package harness

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
)

// WorkloadObjects is how many ConfigMaps Workload goes through.
const WorkloadObjects = 50

// Workload is the check every datastore must pass, whatever it is: through
// the API of the server whose admin kubeconfig is given, in a namespace of
// its own, it creates WorkloadObjects ConfigMaps, lists them, updates and
// deletes each, while a watch opened before the first create must see
// every add, update and delete in the order they were made; and an update
// that names a stale resourceVersion must be refused with a conflict
// (the optimistic concurrency every controller relies on).
func Workload(t *testing.T, kubeconfig string) {
	t.Helper()
	cfg, err := RestConfig(kubeconfig)
	if err != nil {
		t.Fatalf("workload: loading %s: %v", kubeconfig, err)
	}
	c := NewClient(cfg, 200, 400)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ns := "workload-" + rand.String(6)
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("workload: creating namespace %s: %v", ns, err)
	}
	defer func() {
		_ = c.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	}()
	cms := c.CoreV1().ConfigMaps(ns)
	start, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("workload: listing ConfigMaps in %s: %v", ns, err)
	}
	// From the list's revision, so that nothing made after it is missed.
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: start.ResourceVersion, LabelSelector: "workload=yes"})
	if err != nil {
		t.Fatalf("workload: watching ConfigMaps: %v", err)
	}
	defer w.Stop()

	var want []string
	name := func(i int) string { return fmt.Sprintf("cm-%03d", i) }
	for i := range WorkloadObjects {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name(i), Labels: map[string]string{"workload": "yes"}},
			Data:       map[string]string{"v": "0"},
		}
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatalf("workload: creating %s: %v", name(i), err)
		}
		want = append(want, "ADDED "+name(i))
	}
	list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "workload=yes"})
	if err != nil {
		t.Fatalf("workload: listing: %v", err)
	}
	if len(list.Items) != WorkloadObjects {
		t.Errorf("workload: listed %d ConfigMaps, want %d", len(list.Items), WorkloadObjects)
	}
	for i := range list.Items {
		cm := &list.Items[i]
		cm.Data["v"] = "1"
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("workload: updating %s: %v", cm.Name, err)
		}
		want = append(want, "MODIFIED "+cm.Name)
	}

	// list.Items[0] still carries the resourceVersion from before its
	// update: writing it again must be refused, not overwrite.
	stale := list.Items[0].DeepCopy()
	stale.Data["v"] = "stale"
	_, err = cms.Update(ctx, stale, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) {
		t.Errorf("workload: an update with a stale resourceVersion gave %v; want a conflict", err)
	}
	if got, err := cms.Get(ctx, stale.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("workload: reading %s back: %v", stale.Name, err)
	} else if got.Data["v"] != "1" {
		t.Errorf("workload: %s has v=%q after the refused update, want \"1\"", stale.Name, got.Data["v"])
	}

	for i := range WorkloadObjects {
		if err := cms.Delete(ctx, name(i), metav1.DeleteOptions{}); err != nil {
			t.Fatalf("workload: deleting %s: %v", name(i), err)
		}
		want = append(want, "DELETED "+name(i))
	}
	if left, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "workload=yes"}); err != nil {
		t.Errorf("workload: listing after the deletes: %v", err)
	} else if len(left.Items) != 0 {
		t.Errorf("workload: %d ConfigMaps left after deleting them all", len(left.Items))
	}

	checkWatch(ctx, t, w, want)
	if !t.Failed() {
		t.Logf("workload: %d ConfigMaps created, listed, updated, deleted and watched in order; stale update refused", WorkloadObjects)
	}
}

// checkWatch reads len(want) events from w and compares them, in order.
func checkWatch(ctx context.Context, t *testing.T, w watch.Interface, want []string) {
	t.Helper()
	for i, ev := range want {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Errorf("workload: the watch ended after %d of %d events", i, len(want))
				return
			}
			cm, isCM := e.Object.(*corev1.ConfigMap)
			if !isCM {
				t.Errorf("workload: watch event %d is %s %T, want %s", i, e.Type, e.Object, ev)
				return
			}
			if got := string(e.Type) + " " + cm.Name; got != ev {
				t.Errorf("workload: watch event %d is %s, want %s", i, got, ev)
				return
			}
		case <-ctx.Done():
			t.Errorf("workload: the watch gave %d of %d events before the time ran out", i, len(want))
			return
		}
	}
}
