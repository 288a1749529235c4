package ha

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
)

// resetTimeout bounds `skiff server --cluster-reset`: a restore of a
// few MiB and one start of the member.
const resetTimeout = 3 * time.Minute

// testRestore is what a k3s user does to take a cluster of three servers
// back to a snapshot: `skiff etcd-snapshot save` on the first server;
// then, after changes, stop every server, run `skiff server --cluster-reset
// --cluster-reset-restore-path <snapshot>` on the first, start it, and on
// the others do what that printed (remove their etcd data, start them
// again with --server). The state must be the snapshot's on every server,
// the three members voting again, every node Ready, and the pod on the
// agent running.
func (c *cluster) testRestore(t *testing.T, servers []string) {
	first := c.servers[servers[0]]
	others := servers[1:]
	admin := c.clientFor(t, first.Name, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cms := admin.CoreV1().ConfigMaps("default")
	cm := func(name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	if _, err := cms.Create(ctx, cm("before-snapshot"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	out := first.MustExec(t, "skiff", "etcd-snapshot", "save", "--name", "ha-restore")
	m := regexp.MustCompile(`saved to (\S+) \(`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("etcd-snapshot save printed no file: %s", out)
	}
	file := m[1]
	t.Logf("on %s: %s", first.Name, out)

	// What comes after the snapshot, and must be undone by the restore.
	if _, err := cms.Create(ctx, cm("after-snapshot"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "after-snapshot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "before-snapshot", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	c.stopAll(t, servers)
	t.Logf("every server stopped in %.1f s", time.Since(began).Seconds())

	out = c.clusterReset(t, first, file)
	t.Logf("--cluster-reset on %s:\n%s", first.Name, out)
	for _, want := range []string{"Restored etcd from snapshot " + file, "without --cluster-reset", "--server " + c.url(first.Name)} {
		if !strings.Contains(out, want) {
			t.Errorf("--cluster-reset printed no %q", want)
		}
	}
	rm := regexp.MustCompile(`remove (\S+) there`).FindStringSubmatch(out)
	if rm == nil {
		t.Fatalf("--cluster-reset does not say what to remove on the other servers")
	}

	first.Start(t)
	c.waitAPI(t, first)
	c.checkRestored(t, first.Name)
	c.waitMembers(t, first, first.Name)

	// On the others, what the reset printed: remove the member's data,
	// then start them as they were started (with --server and the token),
	// both at once.
	for _, name := range others {
		c.removeOnStopped(t, c.servers[name], rm[1])
	}
	for _, name := range others {
		c.servers[name].Start(t)
	}
	for _, name := range others {
		c.waitAPI(t, c.servers[name])
	}
	for _, n := range []string{first.Name, others[0]} {
		c.waitMembers(t, c.servers[n], servers...)
	}
	// The Nodes' Ready conditions come back with the snapshot: a lease
	// renewed since the restart is what shows each kubelet at work on the
	// restored cluster.
	nodes := append(slices.Clone(servers), c.agent.Name)
	c.waitReady(t, first, nodes...)
	for _, n := range nodes {
		c.waitLeaseRenewed(t, first, n, first.Started)
	}
	t.Logf("three voting members, every node Ready and heartbeating %.1f s after the servers were stopped", time.Since(began).Seconds())
	for _, name := range servers {
		c.checkRestored(t, name)
	}
	out = first.Kubectl(t, "get", "pod", "survivor", "-o", "jsonpath={.status.phase}")
	if out != "Running" {
		t.Errorf("pod survivor on the agent: %s after the restore, want Running", out)
	}
	dh.WaitFor(t, time.Minute, "the container of pod survivor running on the agent", func(ctx context.Context) (bool, string) {
		out, err := c.agent.Exec(ctx, "crictl", "ps", "--name", "http", "--label", "io.kubernetes.pod.name=survivor", "--state", "Running", "-q")
		return err == nil && out != "", out
	}, c.agent)
}

// waitLeaseRenewed waits until node's lease was renewed after since.
func (c *cluster) waitLeaseRenewed(t *testing.T, via *dh.Node, node string, since time.Time) {
	t.Helper()
	dh.WaitFor(t, readyTimeout, node+"'s lease renewed since "+since.Format(time.TimeOnly), func(ctx context.Context) (bool, string) {
		out, err := via.Exec(ctx, "kubectl", "-n", "kube-node-lease", "get", "lease", node, "-o", "jsonpath={.spec.renewTime}")
		if err != nil {
			return false, out
		}
		at, err := time.Parse(time.RFC3339Nano, out)
		return err == nil && at.After(since), out
	}, via)
}

// checkRestored checks, through server name, that the state is the
// snapshot's: what was deleted after it is back, what was made after it
// is gone.
func (c *cluster) checkRestored(t *testing.T, name string) {
	t.Helper()
	cl := c.clientFor(t, name, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cl.CoreV1().ConfigMaps("default").Get(ctx, "before-snapshot", metav1.GetOptions{}); err != nil {
		t.Errorf("%s: the ConfigMap deleted after the snapshot is not back: %v", name, err)
	}
	if _, err := cl.CoreV1().ConfigMaps("default").Get(ctx, "after-snapshot", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("%s: the ConfigMap made after the snapshot: %v, want NotFound", name, err)
	}
	if _, err := cl.CoreV1().Namespaces().Get(ctx, "after-snapshot", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("%s: the namespace made after the snapshot: %v, want NotFound", name, err)
	}
}

// stopAll stops every server at once, as an operator stopping the service
// on each machine would.
func (c *cluster) stopAll(t *testing.T, servers []string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]string, len(servers))
	for i, name := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
			defer cancel()
			if out, err := dh.Docker(ctx, nil, "stop", "-t", "20", c.servers[name].ID); err != nil {
				errs[i] = fmt.Sprintf("stopping %s: %v: %s", name, err, out)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Fatal(e)
		}
	}
}

// clusterReset runs `skiff server --cluster-reset --cluster-reset-restore-path
// file` on the stopped server n's data, with its name, network and
// address (the restored member's peer address is its own), and returns
// what it printed; it must exit 0.
func (c *cluster) clusterReset(t *testing.T, n *dh.Node, file string) string {
	t.Helper()
	name := n.Name + "-reset"
	t.Cleanup(func() {
		// Only if the run below was cut short: --rm removes it otherwise.
		dh.Docker(context.Background(), nil, "rm", "-f", name)
	})
	ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	defer cancel()
	began := time.Now()
	out, err := dh.Docker(ctx, nil, "run", "--rm", "--name", name, "--hostname", n.Name,
		"--network", c.nw.Name, "--ip", c.ips[n.Name], "--volumes-from", n.ID,
		"--entrypoint", "/usr/local/bin/skiff", c.env.Tag,
		"server", "--node-name", n.Name, "--cluster-reset", "--cluster-reset-restore-path", file)
	if err != nil {
		t.Fatalf("--cluster-reset --cluster-reset-restore-path %s on %s: exit %d after %.1f s (want 0):\n%s",
			file, n.Name, dh.ExitCode(err), time.Since(began).Seconds(), tail(out, 30))
	}
	t.Logf("--cluster-reset exited 0 after %.1f s", time.Since(began).Seconds())
	return out
}

// removeOnStopped removes path from the stopped node n's data volume.
func (c *cluster) removeOnStopped(t *testing.T, n *dh.Node, path string) {
	t.Helper()
	if !strings.HasPrefix(path, "/var/lib/skiff/") {
		t.Fatalf("%s is not in the data volume", path)
	}
	dh.MustDocker(t, "run", "--rm", "--network", "none", "--volumes-from", n.ID, "--entrypoint", "/bin/rm", c.env.Tag, "-rf", path)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
