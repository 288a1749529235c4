package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// TestE2EPersistenceRestart: objects survive a clean stop and start on the
// same data dir, the SQLite file is where the docs say, and the CA, certs,
// keys and token are reused byte for byte.
func TestE2EPersistenceRestart(t *testing.T) {
	integration(t)
	t.Parallel()
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	if _, err := os.Stat(filepath.Join(s.cfg.DataDir, "server", "db", "state.db")); err != nil {
		t.Errorf("SQLite datastore not at <data-dir>/server/db/state.db: %v", err)
	}

	const ns = "e2e-persist"
	c := s.client
	mustCreate(t, func() error {
		_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
			Data:       map[string]string{"k": "v1"},
		}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "sec"},
			Data:       map[string][]byte{"bin": {0, 1, 2, 255}},
		}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "dep"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "dep"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "dep"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/pause:1"}}},
				},
			},
		}, metav1.CreateOptions{})
		return err
	})
	// An update, so that the newest revision (not the first) must survive.
	cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "cfg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["k"] = "v2"
	if _, err := c.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update configmap: %v", err)
	}

	before := snapshotSecrets(t, s.cfg.DataDir)
	s.Stop()
	s.Restart()
	compareSnapshots(t, "after a restart", before, snapshotSecrets(t, s.cfg.DataDir))

	c = s.client
	if _, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace %s after restart: %v", ns, err)
	}
	if cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "cfg", metav1.GetOptions{}); err != nil {
		t.Errorf("configmap after restart: %v", err)
	} else if cm.Data["k"] != "v2" {
		t.Errorf("configmap after restart has k=%q, want the updated v2", cm.Data["k"])
	}
	if sec, err := c.CoreV1().Secrets(ns).Get(ctx, "sec", metav1.GetOptions{}); err != nil {
		t.Errorf("secret after restart: %v", err)
	} else if string(sec.Data["bin"]) != string([]byte{0, 1, 2, 255}) {
		t.Errorf("secret after restart has bin=%v", sec.Data["bin"])
	}
	if d, err := c.AppsV1().Deployments(ns).Get(ctx, "dep", metav1.GetOptions{}); err != nil {
		t.Errorf("deployment after restart: %v", err)
	} else if *d.Spec.Replicas != 2 {
		t.Errorf("deployment after restart has %d replicas, want 2", *d.Spec.Replicas)
	}
	s.Stop()
}

func mustCreate(t *testing.T, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatalf("create: %v", err)
	}
}

// TestE2ECrashSafety: kill -9 in the middle of a burst of writes loses no
// write that the apiserver acknowledged, and the server starts again on the
// data dir it left behind.
func TestE2ECrashSafety(t *testing.T) {
	integration(t)
	t.Parallel()
	s := startServer(t)
	const (
		ns      = "e2e-crash"
		workers = 4
		perWkr  = 50
		killAt  = 40 // acknowledged creates before the kill
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := s.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cfg := rest.CopyConfig(s.rest)
	cfg.QPS, cfg.Burst = 1000, 1000
	cfg.Timeout = 15 * time.Second
	burst := kubernetes.NewForConfigOrDie(cfg)

	var (
		mu       sync.Mutex
		acked    []string
		nAcked   atomic.Int32
		killed   atomic.Bool
		killNow  = make(chan struct{})
		killOnce sync.Once
		early    []error // failures before the kill: a bug of their own
		wg       sync.WaitGroup
	)
	burstCtx, stopBurst := context.WithCancel(ctx)
	defer stopBurst()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWkr {
				name := fmt.Sprintf("burst-%d-%03d", w, i)
				_, err := burst.CoreV1().ConfigMaps(ns).Create(burstCtx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Data:       map[string]string{"name": name},
				}, metav1.CreateOptions{})
				if err != nil {
					if !killed.Load() && !errors.Is(burstCtx.Err(), context.Canceled) {
						mu.Lock()
						early = append(early, fmt.Errorf("%s: %w", name, err))
						mu.Unlock()
					}
					return // outcome unknown: not counted as acknowledged
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
				if nAcked.Add(1) >= killAt {
					killOnce.Do(func() { close(killNow) })
				}
			}
		}()
	}
	select {
	case <-killNow:
	case <-time.After(60 * time.Second):
		t.Fatalf("only %d configmaps acknowledged within 60s; want %d before the kill", nAcked.Load(), killAt)
	}
	killed.Store(true)
	s.Kill()
	stopBurst()
	wg.Wait()
	for _, err := range early {
		t.Errorf("create failed before the kill: %v", err)
	}
	t.Logf("%d of %d configmaps acknowledged when kill -9 landed", len(acked), workers*perWkr)
	if len(acked) == workers*perWkr {
		t.Errorf("the burst finished before the kill; the test did not crash the server mid-write")
	}

	s.Restart()
	list, err := s.client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list configmaps after the crash: %v", err)
	}
	have := map[string]string{}
	for _, cm := range list.Items {
		have[cm.Name] = cm.Data["name"]
	}
	lost := 0
	for _, name := range acked {
		if v, ok := have[name]; !ok || v != name {
			lost++
			if lost <= 10 {
				t.Errorf("acknowledged configmap %s missing (or wrong) after kill -9 and restart", name)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged configmaps lost", lost, len(acked))
	}
	// The restarted server takes writes.
	if _, err := s.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-crash"}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("create after the crash restart: %v", err)
	}
	s.Stop()
}
