package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/internal/deploy"
)

// manifestDeadline is what the issue promises for a file dropped into the
// manifests folder: in the cluster within 5 s.
const manifestDeadline = 5 * time.Second

const manifestsNS = "e2e-manifests"

// TestE2ENodeManifestsFolder: a manifest dropped into
// <data-dir>/server/manifests is in the cluster within 5 s, labelled with
// its file; editing the file updates the object and deletes what it no
// longer declares; a broken file is named with its line in the log and in
// an Event while a file beside it applies; an object the API refuses is
// named in an Event while the rest of its file applies; a skipped file's
// objects stay when the file goes; removing a file removes what it
// deployed, also when that happens while skiff is stopped.
func TestE2ENodeManifestsFolder(t *testing.T) {
	integration(t)
	n := newNode(t)
	n.Start()
	dir := filepath.Join(n.DataDir, "server", "manifests")

	// Dropped in: there within 5 s, labelled and annotated.
	const app = "e2e/app.yaml"
	begin := time.Now()
	writeManifest(t, dir, app, `apiVersion: v1
kind: Namespace
metadata:
  name: `+manifestsNS+`
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: `+manifestsNS+`
data:
  a: "1"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
  namespace: `+manifestsNS+`
`)
	cm := n.waitConfigMap(manifestsNS, "settings", manifestDeadline, func(cm *corev1.ConfigMap) bool { return cm.Data["a"] == "1" })
	t.Logf("a new manifest applied %v after it was written", time.Since(begin).Round(time.Millisecond))
	if got := cm.Labels[deploy.ManifestLabel]; got != deploy.LabelValue(app) {
		t.Errorf("label %s = %q, want %q", deploy.ManifestLabel, got, deploy.LabelValue(app))
	}
	if got := cm.Annotations[deploy.PathAnnotation]; got != app {
		t.Errorf("annotation %s = %q, want %q", deploy.PathAnnotation, got, app)
	}

	// Edited: the object follows, and what the file dropped goes.
	begin = time.Now()
	writeManifest(t, dir, app, `apiVersion: v1
kind: Namespace
metadata:
  name: `+manifestsNS+`
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: `+manifestsNS+`
data:
  a: "2"
`)
	n.waitConfigMap(manifestsNS, "settings", manifestDeadline, func(cm *corev1.ConfigMap) bool { return cm.Data["a"] == "2" })
	n.waitConfigMapGone(manifestsNS, "extra", manifestDeadline+5*time.Second)
	t.Logf("an edit applied and pruned %v after it was written", time.Since(begin).Round(time.Millisecond))

	// A broken file is named with its line; the file beside it applies.
	writeManifest(t, dir, "broken.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: fine-so-far
  namespace: `+manifestsNS+`
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: broken
  namespace: `+manifestsNS+`
data:
  key: value: oops
`)
	writeManifest(t, dir, "good.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: good
  namespace: `+manifestsNS+`
`)
	n.waitConfigMap(manifestsNS, "good", manifestDeadline, nil)
	brokenPath := filepath.Join(dir, "broken.yaml")
	logged := n.waitLog(10*time.Second, func(log string) bool {
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, brokenPath) && strings.Contains(l, "line=13") {
				return true
			}
		}
		return false
	})
	if !logged {
		t.Errorf("the log does not name %s at line 13:\n%s", brokenPath, tailString(n.thisStartLog(), 40))
	}
	n.waitManifestEvent(deploy.ReasonInvalid, brokenPath+", line 13:", 10*time.Second)
	if _, err := n.client.CoreV1().ConfigMaps(manifestsNS).Get(context.Background(), "fine-so-far", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("an object of a file that does not parse was applied (err %v); want nothing of it applied", err)
	}

	// An object the API refuses is named; the rest of its file applies.
	writeManifest(t, dir, "refused.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: refused-ok
  namespace: `+manifestsNS+`
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: refused
  namespace: `+manifestsNS+`
spec:
  replicas: -1
  selector:
    matchLabels: {app: refused}
  template:
    metadata:
      labels: {app: refused}
    spec:
      containers:
      - name: c
        image: `+testImage+`
`)
	n.waitConfigMap(manifestsNS, "refused-ok", manifestDeadline, nil)
	n.waitManifestEvent(deploy.ReasonApplyFailed, "Deployment "+manifestsNS+"/refused", 10*time.Second)

	// Skipped, then removed: what it deployed stays (the user has it now).
	writeManifest(t, dir, "good.yaml.skip", "")
	time.Sleep(2 * deploy.DefaultInterval)
	if err := os.Remove(filepath.Join(dir, "good.yaml")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * deploy.DefaultInterval)
	if _, err := n.client.CoreV1().ConfigMaps(manifestsNS).Get(context.Background(), "good", metav1.GetOptions{}); err != nil {
		t.Errorf("a skipped file's ConfigMap went when the file was removed: %v", err)
	}

	// Removed: what it deployed goes.
	if err := os.Remove(filepath.Join(dir, "broken.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(app))); err != nil {
		t.Fatal(err)
	}
	n.waitNamespaceGoing(manifestsNS, manifestDeadline+5*time.Second)

	// Removed while skiff is stopped: pruned at the next start.
	const later = "later.yaml"
	writeManifest(t, dir, later, `apiVersion: v1
kind: ConfigMap
metadata:
  name: later
  namespace: default
`)
	n.waitConfigMap("default", "later", manifestDeadline, nil)
	n.Stop()
	if err := os.Remove(filepath.Join(dir, later)); err != nil {
		t.Fatal(err)
	}
	n.Start()
	n.waitConfigMapGone("default", "later", 30*time.Second)
}

// writeManifest writes a file into the manifests folder the way a user's
// tool would, creating its folders.
func writeManifest(t *testing.T, dir, rel, content string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitConfigMap waits up to d for ns/name to exist and satisfy ok (nil:
// any).
func (n *node) waitConfigMap(ns, name string, d time.Duration, ok func(*corev1.ConfigMap) bool) *corev1.ConfigMap {
	n.t.Helper()
	var cm *corev1.ConfigMap
	done, err := poll(within(n.t, d), 100*time.Millisecond, func() (bool, error) {
		got, err := n.client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		cm = got
		return ok == nil || ok(got), nil
	})
	if !done {
		n.t.Fatalf("ConfigMap %s/%s not as the manifest says within %v (last: %+v, %v); log:\n%s", ns, name, d, cm, err, tailString(n.thisStartLog(), 40))
	}
	return cm
}

// waitConfigMapGone waits up to d for ns/name to be deleted.
func (n *node) waitConfigMapGone(ns, name string, d time.Duration) {
	n.t.Helper()
	done, err := poll(within(n.t, d), 100*time.Millisecond, func() (bool, error) {
		_, err := n.client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	if !done {
		n.t.Fatalf("ConfigMap %s/%s still there %v after its manifest dropped it (%v); log:\n%s", ns, name, d, err, tailString(n.thisStartLog(), 40))
	}
}

// waitNamespaceGoing waits up to d for ns to be deleted or terminating.
func (n *node) waitNamespaceGoing(ns string, d time.Duration) {
	n.t.Helper()
	done, err := poll(within(n.t, d), 100*time.Millisecond, func() (bool, error) {
		got, err := n.client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && got.DeletionTimestamp != nil, err
	})
	if !done {
		n.t.Fatalf("namespace %s not deleted %v after its manifest was removed (%v); log:\n%s", ns, d, err, tailString(n.thisStartLog(), 40))
	}
}

// waitManifestEvent waits up to d for an Event in kube-system (where the deploy
// controller reports, on the file's inventory) with reason and a message
// that contains msg.
func (n *node) waitManifestEvent(reason, msg string, d time.Duration) {
	n.t.Helper()
	var seen []string
	done, err := poll(within(n.t, d), 200*time.Millisecond, func() (bool, error) {
		list, err := n.client.CoreV1().Events(metav1.NamespaceSystem).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		seen = seen[:0]
		for _, e := range list.Items {
			if strings.HasPrefix(e.Reason, "Manifest") {
				seen = append(seen, e.Reason+": "+e.Message)
			}
			if e.Reason == reason && strings.Contains(e.Message, msg) {
				return true, nil
			}
		}
		return false, nil
	})
	if !done {
		n.t.Errorf("no Event %s with %q within %v (%v); the deploy controller's Events:\n%s", reason, msg, d, err, strings.Join(seen, "\n"))
	}
}

// waitLog waits up to d for the current start's log to satisfy ok.
func (n *node) waitLog(d time.Duration, ok func(string) bool) bool {
	done, _ := poll(within(n.t, d), 200*time.Millisecond, func() (bool, error) { return ok(n.thisStartLog()), nil })
	return done
}
