package node

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// storageNS holds the local storage test's objects.
const storageNS = "e2e-storage"

// storagePod is a pod of the test image with claim mounted at /data,
// running as an unprivileged user: the volume's directory must be
// writable by any user.
func storagePod(name, claim string) string {
	return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: ` + storageNS + `
spec:
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsUser: 1000
    runAsGroup: 1000
  containers:
  - name: http
    image: ` + testImage + `
    imagePullPolicy: IfNotPresent
    volumeMounts:
    - name: data
      mountPath: /data
    readinessProbe:
      httpGet:
        path: /healthz
        port: 8080
      periodSeconds: 1
  volumes:
  - name: data
    persistentVolumeClaim:
      claimName: ` + claim + `
`
}

// storageClaim is a claim of the default class (no storageClassName: the
// local-path class is the default) with the given access mode.
func storageClaim(name, mode string) string {
	return `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: ` + name + `
  namespace: ` + storageNS + `
spec:
  accessModes: [` + mode + `]
  resources:
    requests:
      storage: 64Mi
`
}

// TestE2ENodeLocalStorage: a claim of the default class gets a directory
// under <data-dir>/storage on the pod's node, writable by the pod's
// unprivileged user; what a pod wrote is still there for the next pod;
// deleting the claim removes the volume and its directory. A claim asking
// for ReadWriteMany stays Pending with a Warning Event that says why.
//
// It needs the test image's /write and /read endpoints.
func TestE2ENodeLocalStorage(t *testing.T) {
	integration(t)
	n := newNode(t)
	n.Start()
	n.waitStorageClass("local-path", 60*time.Second)
	n.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + storageNS + "\n---\n" +
		storageClaim("data", "ReadWriteOnce") + "---\n" + storagePod("writer", "data"))
	pod := n.waitPod(storageNS, "writer", podTimeout, "Running", podRunning)

	const content = "written by a pod"
	podURL := func(p *corev1.Pod, path string, q url.Values) string {
		return fmt.Sprintf("http://%s:8080%s?%s", p.Status.PodIP, path, q.Encode())
	}
	expectHTTP(t, "write to the volume as user 1000", podURL(pod, "/write", url.Values{"path": {"/data/hello.txt"}, "data": {content}}),
		30*time.Second, func(b string) bool { return strings.TrimSpace(b) == "ok" })

	ctx := within(t, 30*time.Second)
	claim, err := n.client.CoreV1().PersistentVolumeClaims(storageNS).Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if claim.Status.Phase != corev1.ClaimBound || claim.Spec.VolumeName == "" {
		t.Fatalf("claim is %s (volume %q) while its pod runs", claim.Status.Phase, claim.Spec.VolumeName)
	}
	pv, err := n.client.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(n.DataDir, "storage", fmt.Sprintf("%s_%s_%s", pv.Name, storageNS, "data"))
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != dir {
		t.Errorf("volume %s: hostPath %+v, want %s", pv.Name, pv.Spec.HostPath, dir)
	}
	if got := pv.Annotations["pv.kubernetes.io/provisioned-by"]; got != "rancher.io/local-path" {
		t.Errorf("volume %s provisioned by %q", pv.Name, got)
	}
	if st, err := os.Stat(dir); err != nil {
		t.Errorf("volume directory: %v", err)
	} else if st.Mode().Perm() != 0o777 {
		t.Errorf("volume directory mode %v, want 0777", st.Mode().Perm())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || string(b) != content {
		t.Errorf("the pod's file on the host: %q, %v", b, err)
	}

	// A new pod on the same claim reads what the first one wrote.
	n.deletePod(storageNS, "writer")
	n.apply(storagePod("reader", "data"))
	pod = n.waitPod(storageNS, "reader", podTimeout, "Running", podRunning)
	expectHTTP(t, "read the file the first pod wrote", podURL(pod, "/read", url.Values{"path": {"/data/hello.txt"}}),
		30*time.Second, func(b string) bool { return b == content })

	// Deleting the claim removes the volume and its directory.
	n.deletePod(storageNS, "reader")
	if err := n.client.CoreV1().PersistentVolumeClaims(storageNS).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone := within(t, 60*time.Second)
	ok, err := poll(gone, 500*time.Millisecond, func() (bool, error) {
		_, err := n.client.CoreV1().PersistentVolumes().Get(gone, pv.Name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, err
		}
		_, err = os.Stat(dir)
		return errors.Is(err, fs.ErrNotExist), nil
	})
	if !ok {
		_, statErr := os.Stat(dir)
		t.Errorf("after the claim was deleted, volume %s or its directory %s is still there (%v; directory: %v)\n%s",
			pv.Name, dir, err, statErr, n.kubectl("get", "pv", "-o", "wide"))
	}

	t.Run("read_write_many_stays_pending", func(t *testing.T) {
		n := n.in(t)
		n.apply(storageClaim("shared", "ReadWriteMany") + "---\n" + storagePod("sharer", "shared"))
		ctx := within(t, 90*time.Second)
		var events []string
		ok, err := poll(ctx, time.Second, func() (bool, error) {
			list, err := n.client.CoreV1().Events(storageNS).List(ctx, metav1.ListOptions{
				FieldSelector: "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=shared",
			})
			if err != nil {
				return false, err
			}
			events = events[:0]
			for _, e := range list.Items {
				events = append(events, e.Type+" "+e.Reason+": "+e.Message)
				if e.Type == corev1.EventTypeWarning && e.Reason == "ProvisioningFailed" &&
					strings.Contains(e.Message, "ReadWriteOnce and ReadWriteOncePod") {
					return true, nil
				}
			}
			return false, nil
		})
		if !ok {
			t.Fatalf("no ProvisioningFailed Event on the ReadWriteMany claim within 90s (%v); its events:\n%s", err, strings.Join(events, "\n"))
		}
		claim, err := n.client.CoreV1().PersistentVolumeClaims(storageNS).Get(ctx, "shared", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if claim.Status.Phase != corev1.ClaimPending || claim.Spec.VolumeName != "" {
			t.Errorf("ReadWriteMany claim is %s (volume %q), want Pending", claim.Status.Phase, claim.Spec.VolumeName)
		}
		if p, err := n.client.CoreV1().Pods(storageNS).Get(ctx, "sharer", metav1.GetOptions{}); err != nil {
			t.Error(err)
		} else if p.Status.Phase != corev1.PodPending {
			t.Errorf("the ReadWriteMany claim's pod is %s, want Pending", p.Status.Phase)
		}
	})
}

// waitStorageClass waits until the StorageClass exists (the deploy
// controller applies the addon's manifest once the server runs).
func (n *node) waitStorageClass(name string, d time.Duration) {
	n.t.Helper()
	ctx := within(n.t, d)
	ok, err := poll(ctx, 500*time.Millisecond, func() (bool, error) {
		_, err := n.client.StorageV1().StorageClasses().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if !ok {
		n.t.Fatalf("StorageClass %s not there within %v: %v", name, d, err)
	}
}

// deletePod deletes a pod and waits until it is gone.
func (n *node) deletePod(ns, name string) {
	n.t.Helper()
	ctx := within(n.t, podTimeout)
	if err := n.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		n.t.Fatalf("deleting pod %s/%s: %v", ns, name, err)
	}
	ok, err := poll(ctx, 500*time.Millisecond, func() (bool, error) {
		_, err := n.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if !ok {
		n.t.Fatalf("pod %s/%s still there %v after its deletion: %v", ns, name, podTimeout, err)
	}
}
