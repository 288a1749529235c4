package e2e

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestE2EKubectlWatch: `kubectl get configmaps -w` through port P prints a
// ConfigMap created after its watch began, promptly (a proxy that buffers
// the stream fails this).
func TestE2EKubectlWatch(t *testing.T) {
	integration(t)
	t.Parallel()
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "e2e-kwatch"
	if _, err := s.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createCM := func(name string) {
		t.Helper()
		if _, err := s.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create configmap %s: %v", name, err)
		}
	}
	createCM("before")

	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	cmd := s.kubectlRunner().Cmd(wctx, "get", "configmaps", "-n", ns, "-w", "-o", "name")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { wcancel(); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(sc.Text()):
			case <-wctx.Done():
				return
			}
		}
	}()
	waitLine := func(want string, within time.Duration) {
		t.Helper()
		timer := time.NewTimer(within)
		defer timer.Stop()
		var seen []string
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl get -w ended before printing %q; printed %q; stderr: %s", want, seen, stderr.String())
				}
				if l == want {
					return
				}
				seen = append(seen, l)
			case <-timer.C:
				t.Fatalf("kubectl get -w did not print %q within %v; printed %q; stderr: %s", want, within, seen, stderr.String())
			}
		}
	}
	// The initial list shows "before"; the watch starts from that list.
	waitLine("configmap/before", 30*time.Second)
	createCM("after")
	waitLine("configmap/after", 10*time.Second)
}

// TestE2EClientGoWatch: a client-go watch through port P delivers ADDED,
// MODIFIED and DELETED for one ConfigMap, in order, each within seconds.
func TestE2EClientGoWatch(t *testing.T) {
	integration(t)
	t.Parallel()
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "e2e-gowatch"
	cms := s.client.CoreV1().ConfigMaps(ns)
	if _, err := s.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=w1", ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watch configmaps: %v", err)
	}
	defer w.Stop()

	next := func(wantType watch.EventType, wantV string) {
		t.Helper()
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed while waiting for %s", wantType)
			}
			cm, isCM := ev.Object.(*corev1.ConfigMap)
			if ev.Type != wantType || !isCM || cm.Name != "w1" {
				t.Fatalf("watch event %s %T, want %s of configmap w1 (object: %+v)", ev.Type, ev.Object, wantType, ev.Object)
			}
			if cm.Data["v"] != wantV {
				t.Errorf("%s event carries v=%q, want %q", wantType, cm.Data["v"], wantV)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event within 10s", wantType)
		}
	}

	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next(watch.Added, "1")
	cm.Data["v"] = "2"
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	next(watch.Modified, "2")
	if err := cms.Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	next(watch.Deleted, "2")
}
