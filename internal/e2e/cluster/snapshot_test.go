package cluster

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
)

// snapshotManifest is a Deployment of the test image that is Ready only
// when its container serves.
func snapshotManifest(name string, replicas int) string {
	return strings.NewReplacer("NAME", name, "REPLICAS", fmt.Sprint(replicas)).Replace(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: NAME
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: NAME}
  template:
    metadata:
      labels: {app: NAME}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: ` + dh.TestImage + `
        imagePullPolicy: Never
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
`)
}

// TestE2ESnapshotRestoreNode is issue 14's check 4 on a SQLite single
// server with its node (a node container, so that its kubelet and
// containers are its own): a Deployment Running when `skiff etcd-snapshot
// save` runs, then removed and replaced by another; the server stopped,
// `skiff server --cluster-reset --cluster-reset-restore-path` run on its
// data volume, the server started again: the snapshot's Deployment is
// Ready again with Running pods, the later one and its pods are gone, and
// a Deployment created after the restore becomes Ready, so the scheduler,
// the controllers and the kubelet all work on the restored store, whose
// revisions went back.
func TestE2ESnapshotRestoreNode(t *testing.T) {
	env := dh.Setup(t)
	sfx := dh.Suffix()
	c := &cluster{
		env: env, nw: dh.CreateNetwork(t, "sks-"+sfx), images: dh.ImagesTar(t, env.Root),
		prefix: "sks-" + sfx, ipBase: 2,
	}
	c.startServer(t)
	c.waitServer(t)
	c.waitNodeReady(t, c.nodeName(0), time.Time{}, nodeReadyTimeout)
	dh.WaitFor(t, 60*time.Second, "ServiceAccount default", func(ctx context.Context) (bool, string) {
		out, err := c.server.Exec(ctx, "kubectl", "get", "serviceaccount", "default", "-o", "name")
		return err == nil, out
	}, c.server)

	c.apply(t, snapshotManifest("kept", 2))
	c.waitPodsReady(t, "app=kept", 2, podRunningTimeout)
	out := c.server.MustExec(t, "skiff", "etcd-snapshot", "save", "--name", "before")
	m := regexp.MustCompile(`Snapshot (\S+) saved`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("etcd-snapshot save printed %q", out)
	}
	name := m[1]
	if !strings.HasPrefix(name, "before-"+c.nodeName(0)+"-") {
		t.Errorf("snapshot named %q, want before-%s-<unix>", name, c.nodeName(0))
	}
	t.Logf("saved %s: %s", name, strings.TrimSpace(out))

	c.kubectl(t, "delete", "deployment", "kept", "--wait=true", "--timeout=60s")
	c.apply(t, snapshotManifest("later", 1))
	c.waitPodsReady(t, "app=later", 1, podRunningTimeout)

	c.server.Stop(t, 30*time.Second)
	// The restore runs in a container of its own on the server's data
	// volume, as a user runs it on the stopped service.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := dh.Docker(ctx, nil, "run", "--rm", "--volumes-from", c.server.ID, "--entrypoint", "/usr/local/bin/skiff",
		env.Tag, "server", "--node-name", c.nodeName(0), "--cluster-reset", "--cluster-reset-restore-path", name)
	if err != nil || !strings.Contains(out, "without --cluster-reset") {
		t.Fatalf("restore: %v:\n%s", err, out)
	}
	t.Logf("restore: %s", strings.TrimSpace(out))

	restarted := time.Now()
	c.server.Start(t)
	c.waitServer(t)
	c.waitNodeReady(t, c.nodeName(0), restarted, nodeReadyTimeout)
	// The restored pods carry the status they had at the snapshot
	// (Running, Ready): only containers started after the restart count.
	c.waitPodsStartedSince(t, "app=kept", 2, restarted)
	t.Logf("the snapshot's Deployment is Ready again %.1f s after the restart", time.Since(restarted).Seconds())
	dh.WaitFor(t, podRunningTimeout, "no Deployment or pod of app=later", func(ctx context.Context) (bool, string) {
		out, err := c.server.Exec(ctx, "kubectl", "get", "deployments,pods", "-l", "app=later", "-o", "name")
		return err == nil && strings.TrimSpace(out) == "", out
	}, c.server)
	if out, err := c.server.Exec(ctx, "kubectl", "get", "deployment", "later"); err == nil {
		t.Errorf("deployment later (made after the snapshot) exists after the restore: %s", out)
	}
	c.apply(t, snapshotManifest("fresh", 1))
	c.waitPodsReady(t, "app=fresh", 1, podRunningTimeout)
}

// waitPodsStartedSince waits until want pods with the selector are Running
// and Ready with every container started at or after since.
func (c *cluster) waitPodsStartedSince(t *testing.T, selector string, want int, since time.Time) {
	t.Helper()
	since = since.Truncate(time.Second) // status times have seconds only
	dh.WaitFor(t, podRunningTimeout, fmt.Sprintf("%d pods %s Ready, started after the restart", want, selector), func(ctx context.Context) (bool, string) {
		var l corev1.PodList
		if err := c.tryGetJSON(ctx, &l, "get", "pods", "-l", selector); err != nil {
			return false, err.Error()
		}
		fresh := 0
		var states []string
		for _, p := range l.Items {
			started := len(p.Status.ContainerStatuses) > 0
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Running == nil || cs.State.Running.StartedAt.Time.Before(since) {
					started = false
				}
			}
			states = append(states, fmt.Sprintf("%s: %s, started after restart %v", p.Name, podState(p), started))
			if started && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(p) {
				fresh++
			}
		}
		return fresh == want && len(l.Items) == want, strings.Join(states, "; ")
	}, c.server)
}
