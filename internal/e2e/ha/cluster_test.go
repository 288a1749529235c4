package ha

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// Bounds for a loaded 2-core box running four node containers.
const (
	apiTimeout     = 180 * time.Second // server container start → API ready
	readyTimeout   = 180 * time.Second // container start → its Node Ready
	memberTimeout  = 90 * time.Second  // membership converges
	failoverBudget = 10 * time.Second  // leader killed → the others write
)

// cluster is the test's nodes. Server i (from 1) is <prefix>-s<i> at
// nw.Addr(10+i); the agent is <prefix>-a at nw.Addr(30).
type cluster struct {
	env     dh.Env
	nw      *dh.Network
	images  []byte
	prefix  string
	members string // the members helper, built on the host

	servers map[string]*dh.Node // by node name
	ips     map[string]string   // server node name → address
	agent   *dh.Node
	token   string
	// kubeconfig is the admin kubeconfig copied out of the first server,
	// on the host; restFor points it at any server.
	kubeconfig string
}

func (c *cluster) serverName(i int) string { return fmt.Sprintf("%s-s%d", c.prefix, i) }
func (c *cluster) url(name string) string  { return "https://" + c.ips[name] + ":6443" }

// startServer creates and starts server i with args after "server".
func (c *cluster) startServer(t *testing.T, i int, args ...string) *dh.Node {
	t.Helper()
	n := c.createServer(t, i, args...)
	n.Start(t)
	return n
}

// createServer creates server i without starting it. A container lives
// as long as the test t it was created in: one that later steps use is
// created by the top-level test, even when a step starts it.
func (c *cluster) createServer(t *testing.T, i int, args ...string) *dh.Node {
	t.Helper()
	name := c.serverName(i)
	c.ips[name] = c.nw.Addr(10 + i)
	n := dh.CreateNode(t, dh.NodeOptions{
		Tag: c.env.Tag, Name: name, Network: c.nw.Name, IP: c.ips[name],
		Args: append([]string{"server", "--node-name", name}, args...), Preload: c.images,
	})
	c.servers[name] = n
	return n
}

// joinServer starts server i joining the first server.
func (c *cluster) joinServer(t *testing.T, i int) *dh.Node {
	return c.startServer(t, i, "--server", c.url(c.serverName(1)), "--token", c.token)
}

func (c *cluster) waitAPI(t *testing.T, n *dh.Node) {
	t.Helper()
	dh.WaitFor(t, apiTimeout, n.Name+" API ready", func(ctx context.Context) (bool, string) {
		out, err := n.Exec(ctx, "kubectl", "get", "--raw", "/readyz")
		return err == nil && out == "ok", out
	}, n)
	t.Logf("%s: API ready %.1f s after docker start", n.Name, time.Since(n.Started).Seconds())
}

// waitReady waits until every name is a Ready Node, asking any server.
func (c *cluster) waitReady(t *testing.T, via *dh.Node, names ...string) {
	t.Helper()
	dh.WaitFor(t, readyTimeout, strings.Join(names, ", ")+" Ready", func(ctx context.Context) (bool, string) {
		out, err := via.Exec(ctx, "kubectl", "get", "nodes", "-o", "json")
		if err != nil {
			return false, out
		}
		var list corev1.NodeList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return false, err.Error()
		}
		ready := map[string]bool{}
		for _, n := range list.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready[n.Name] = true
				}
			}
		}
		for _, n := range names {
			if !ready[n] {
				return false, fmt.Sprintf("%s not Ready; Ready: %v", n, ready)
			}
		}
		return true, ""
	}, via)
}

// member is what hacluster/members (the shared etcdctl of the tests and
// benchmarks) prints for each member.
type member struct {
	Name    string `json:"name"`
	Learner bool   `json:"learner"`
	Started bool   `json:"started"`
	Leader  bool   `json:"leader"`
}

// buildMembers builds the members helper once, static, for the containers.
func buildMembers(t *testing.T, root string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "members")
	cmd := exec.Command("go", "build", "-o", out, "./internal/e2e/hacluster/members")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the members helper: %v\n%s", err, b)
	}
	return out
}

// membersOn lists the members as server n's member sees them.
func (c *cluster) membersOn(ctx context.Context, n *dh.Node) ([]member, error) {
	if out, err := dh.Docker(ctx, nil, "cp", c.members, n.ID+":/members"); err != nil {
		return nil, fmt.Errorf("copying the helper: %v: %s", err, out)
	}
	out, err := n.Exec(ctx, "/members")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	var ms []member
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	return ms, nil
}

// waitMembers waits until the membership is exactly names, each started
// and voting, and returns it.
func (c *cluster) waitMembers(t *testing.T, via *dh.Node, names ...string) []member {
	t.Helper()
	want := slices.Clone(names)
	sort.Strings(want)
	var ms []member
	dh.WaitFor(t, memberTimeout, "etcd members "+strings.Join(want, ", "), func(ctx context.Context) (bool, string) {
		var err error
		if ms, err = c.membersOn(ctx, via); err != nil {
			return false, err.Error()
		}
		var got []string
		for _, m := range ms {
			if !m.Started || m.Learner {
				return false, fmt.Sprintf("%+v", ms)
			}
			got = append(got, m.Name)
		}
		sort.Strings(got)
		return slices.Equal(got, want), fmt.Sprintf("%+v", ms)
	}, via)
	return ms
}

// leader is the name of the etcd leader.
func leader(ms []member) string {
	for _, m := range ms {
		if m.Leader {
			return m.Name
		}
	}
	return ""
}

// fetchKubeconfig copies the admin kubeconfig out of server n.
func (c *cluster) fetchKubeconfig(t *testing.T, n *dh.Node) {
	t.Helper()
	c.kubeconfig = filepath.Join(t.TempDir(), "admin.yaml")
	dh.MustDocker(t, "cp", n.ID+":/etc/skiff/skiff.yaml", c.kubeconfig)
}

// kubeconfigFor writes a copy of the admin kubeconfig that points at
// server name, for tools that take a file.
func (c *cluster) kubeconfigFor(t *testing.T, name string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range cfg.Clusters {
		cl.Server = c.url(name)
	}
	p := filepath.Join(t.TempDir(), name+".yaml")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// clientFor is an admin client of server name that gives up on a request
// after timeout.
func (c *cluster) clientFor(t *testing.T, name string, timeout time.Duration) kubernetes.Interface {
	t.Helper()
	cfg, err := harness.RestConfig(c.kubeconfigFor(t, name))
	if err != nil {
		t.Fatal(err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = timeout
	return harness.NewClient(cfg, 500, 1000)
}
