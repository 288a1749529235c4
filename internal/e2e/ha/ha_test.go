package ha

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// TestE2EHA runs three servers on embedded etcd and one agent, and checks
// in order: membership and the API on every server; the kubernetes
// Service and the agent's load balancer listing every server; the shared
// workload; no acknowledged write lost while the etcd leader is killed,
// the others writing within 10 s, pods on the agent running on, the killed
// server rejoining; a server removed by deleting its Node and a fresh one
// joining in its place; refused joins; a snapshot restored with
// --cluster-reset on one server while the others rejoin as it says.
func TestE2EHA(t *testing.T) {
	env := dh.Setup(t)
	sfx := dh.Suffix()
	c := &cluster{
		env: env, nw: dh.CreateNetwork(t, "skha-"+sfx), images: dh.ImagesTar(t, env.Root),
		prefix: "skha-" + sfx, servers: map[string]*dh.Node{}, ips: map[string]string{},
		members: buildMembers(t, env.Root),
	}
	s1 := c.startServer(t, 1, "--cluster-init")
	c.waitAPI(t, s1)
	c.token = strings.TrimSpace(s1.MustExec(t, "cat", "/var/lib/skiff/server/token"))
	c.fetchKubeconfig(t, s1)
	// The two join at once: etcd takes one learner at a time, so one of
	// them waits its turn.
	s2, s3 := c.joinServer(t, 2), c.joinServer(t, 3)
	c.agent = dh.StartNode(t, dh.NodeOptions{
		Tag: env.Tag, Name: c.prefix + "-a", Network: c.nw.Name, IP: c.nw.Addr(30),
		Args:    []string{"agent", "--server", c.url(s1.Name), "--token", c.token, "--node-name", c.prefix + "-a"},
		Preload: c.images,
	})
	c.waitAPI(t, s2)
	c.waitAPI(t, s3)
	servers := []string{s1.Name, s2.Name, s3.Name}
	c.waitReady(t, s1, append(slices.Clone(servers), c.agent.Name)...)

	t.Run("1_three_voting_members_every_server_ready", func(t *testing.T) {
		for _, n := range []*dh.Node{s1, s2, s3} {
			ms := c.waitMembers(t, n, servers...)
			t.Logf("members seen by %s: %+v", n.Name, ms)
		}
	})
	t.Run("2_kubernetes_service_and_agent_lb_list_every_server", func(t *testing.T) {
		c.checkServerLists(t, s1, servers)
	})
	t.Run("3_workload", func(t *testing.T) {
		harness.Workload(t, c.kubeconfigFor(t, s2.Name))
	})
	t.Run("4_leader_killed_no_acknowledged_write_lost", func(t *testing.T) {
		c.testKillLeader(t, servers)
	})
	fresh := c.createServer(t, 4, "--server", c.url(s1.Name), "--token", c.token)
	replaced := t.Run("5_deleted_node_leaves_membership_fresh_server_joins", func(t *testing.T) {
		servers = c.testReplace(t, servers, fresh)
	})
	t.Run("6_refused_joins_leave_no_member", func(t *testing.T) {
		c.testRefused(t, s1)
	})
	t.Run("7_snapshot_restored_on_every_server_with_cluster_reset", func(t *testing.T) {
		if !replaced {
			t.Fatal("step 5 failed, so which servers run is not known")
		}
		c.testRestore(t, servers)
	})
}

// testRefused: a wrong server token and a --server that is not a skiff
// server are refused with one line, with nothing written in the data dir,
// and the membership does not change.
func (c *cluster) testRefused(t *testing.T, s1 *dh.Node) {
	before, err := c.membersOn(context.Background(), s1)
	if err != nil {
		t.Fatal(err)
	}
	hash, _, _ := strings.Cut(c.token, "::")
	for _, tc := range []struct{ name, url, token, want string }{
		{"wrong-token", c.url(s1.Name), hash + "::server:wrong", "refused the token"},
		{"not-a-skiff-server", "https://" + c.ips[s1.Name] + ":2380", c.token, "2380"},
	} {
		name := c.prefix + "-" + tc.name
		e := dh.RunToExit(t, dh.NodeOptions{
			Tag: c.env.Tag, Name: name, Network: c.nw.Name,
			Args: []string{"server", "--server", tc.url, "--token", tc.token, "--node-name", name},
		}, 2*time.Minute)
		if e.TimedOut || e.Code == 0 || !strings.Contains(e.Output, tc.want) {
			t.Errorf("%s: exit %d (timed out: %v), want a refusal naming %q:\n%s", tc.name, e.Code, e.TimedOut, tc.want, e.Output)
		} else {
			t.Logf("%s: exit %d after %.1f s: %s", tc.name, e.Code, e.Took.Seconds(), lastLine(e.Output))
		}
		// A join is checked in full before the data dir is written.
		ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
		out, err := dh.Docker(ctx, nil, "cp", name+":/var/lib/skiff/server", t.TempDir())
		cancel()
		if err == nil || !strings.Contains(out, "Could not find") {
			t.Errorf("%s: the refused join left /var/lib/skiff/server behind (docker cp: %v: %s)", tc.name, err, out)
		}
	}
	after, err := c.membersOn(context.Background(), s1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(names(before)) != fmt.Sprint(names(after)) {
		t.Errorf("the members changed after refused joins: %v, then %v", names(before), names(after))
	}
}

func names(ms []member) []string {
	var n []string
	for _, m := range ms {
		n = append(n, m.Name)
	}
	sort.Strings(n)
	return n
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// checkServerLists checks that the kubernetes Service's endpoints and the
// agent's load balancer (its servers.json) name every server.
func (c *cluster) checkServerLists(t *testing.T, via *dh.Node, servers []string) {
	t.Helper()
	var want []string
	for _, s := range servers {
		want = append(want, c.ips[s])
	}
	sort.Strings(want)
	dh.WaitFor(t, 60*time.Second, "the kubernetes Service listing every server", func(ctx context.Context) (bool, string) {
		out, err := via.Exec(ctx, "kubectl", "get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[*].addresses[*].ip}")
		got := strings.Fields(out)
		sort.Strings(got)
		return err == nil && slices.Equal(got, want), out
	}, via)
	dh.WaitFor(t, 60*time.Second, "the agent's load balancer listing every server", func(ctx context.Context) (bool, string) {
		out, err := c.agent.Exec(ctx, "cat", "/var/lib/skiff/agent/etc/servers.json")
		if err != nil {
			return false, out
		}
		var st struct {
			Servers []string `json:"servers"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return false, out
		}
		for _, ip := range want {
			if !slices.ContainsFunc(st.Servers, func(s string) bool { return strings.HasPrefix(s, ip+":") }) {
				return false, out
			}
		}
		return true, out
	}, c.agent)
}

// testKillLeader: a pod runs on the agent; a writer creates 1,000
// ConfigMaps through the servers in turn; once 300 are acknowledged the
// etcd leader's container is killed. The two others must take writes
// within failoverBudget, every acknowledged ConfigMap must be there at the
// end, the pod must still run, and the killed server must come back as
// the same member when its container starts again.
func (c *cluster) testKillLeader(t *testing.T, servers []string) {
	s1 := c.servers[servers[0]]
	ms := c.waitMembers(t, s1, servers...)
	lead := leader(ms)
	if lead == "" {
		t.Fatalf("no leader in %+v", ms)
	}
	var others []string
	for _, s := range servers {
		if s != lead {
			others = append(others, s)
		}
	}
	via := c.servers[others[0]]

	// A pod on the agent, which must run through the whole test.
	pod := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: survivor, namespace: default}
spec:
  nodeName: %s
  containers: [{name: http, image: %s, imagePullPolicy: Never}]
`, c.agent.Name, dh.TestImage)
	if out, err := dockerStdin(via, pod, "kubectl", "apply", "-f", "-"); err != nil {
		t.Fatalf("creating the pod: %v: %s", err, out)
	}
	dh.WaitFor(t, 120*time.Second, "pod survivor Running", func(ctx context.Context) (bool, string) {
		out, err := via.Exec(ctx, "kubectl", "get", "pod", "survivor", "-o", "jsonpath={.status.phase}")
		return err == nil && out == "Running", out
	}, via)
	startedAt := strings.TrimSpace(via.MustExec(t, "kubectl", "get", "pod", "survivor", "-o", "jsonpath={.status.containerStatuses[0].state.running.startedAt}"))

	ns := "writes"
	admin := c.clientFor(t, others[0], 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := &writer{ns: ns}
	for _, s := range servers {
		w.clients = append(w.clients, c.clientFor(t, s, 5*time.Second))
	}
	const total = 1000
	lostc := make(chan []string, 1)
	go func() { lostc <- w.run(ctx, total, 4) }()
	dh.WaitFor(t, 3*time.Minute, "300 acknowledged writes before the kill", func(context.Context) (bool, string) {
		return w.n.Load() >= 300, fmt.Sprintf("%d acknowledged", w.n.Load())
	})

	killed := c.servers[lead]
	dh.MustDocker(t, "kill", killed.ID)
	at := time.Now()
	t.Logf("killed %s, the etcd leader, after %d acknowledged writes", lead, w.n.Load())
	// Each of the others takes a write within the budget.
	for _, s := range others {
		cl := c.clientFor(t, s, 2*time.Second)
		var took time.Duration
		for i := 0; ; i++ {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := cl.CoreV1().ConfigMaps(ns).Create(pctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%s-%d", s, i)},
			}, metav1.CreateOptions{})
			pcancel()
			if err == nil {
				took = time.Since(at)
				break
			}
			if time.Since(at) > 2*failoverBudget {
				t.Fatalf("%s takes no write %s after the leader was killed: %v", s, time.Since(at).Round(time.Millisecond), err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("%s took a write %.2f s after the leader was killed", s, took.Seconds())
		if took > failoverBudget {
			t.Errorf("%s took its first write %.1f s after the leader was killed; want within %s", s, took.Seconds(), failoverBudget)
		}
	}

	lost := <-lostc
	if len(lost) > 0 {
		t.Errorf("%d creates never acknowledged by any server within a minute: %v", len(lost), lost[:min(len(lost), 10)])
	}
	list, err := admin.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing the writes: %v", err)
	}
	have := map[string]bool{}
	for _, cm := range list.Items {
		have[cm.Name] = true
	}
	missing := 0
	w.acked.Range(func(k, _ any) bool {
		if !have[k.(string)] {
			missing++
			if missing <= 10 {
				t.Errorf("acknowledged ConfigMap %s is missing", k)
			}
		}
		return true
	})
	t.Logf("%d writes acknowledged (%d failed tries sent on to the next server), %d missing", w.n.Load(), w.errs.Load(), missing)

	out := via.MustExec(t, "kubectl", "get", "pod", "survivor", "-o", "jsonpath={.status.phase} {.status.containerStatuses[0].state.running.startedAt}")
	if out != "Running "+startedAt {
		t.Errorf("pod survivor on the agent: %q, want still Running since %s", out, startedAt)
	}

	killed.Start(t)
	c.waitAPI(t, killed)
	c.waitMembers(t, killed, servers...)
	c.waitReady(t, via, servers...)
	t.Logf("%s rejoined as the same member %.1f s after its container started", lead, time.Since(killed.Started).Seconds())
}

// testReplace: the last server is stopped and its Node deleted: its member
// leaves; a fresh server joins in its place and the cluster is three
// voting members again, which it returns.
func (c *cluster) testReplace(t *testing.T, servers []string, fresh *dh.Node) []string {
	gone := servers[len(servers)-1]
	via := c.servers[servers[0]]
	c.servers[gone].Stop(t, 20*time.Second)
	via.Kubectl(t, "delete", "node", gone)
	rest := slices.Clone(servers[:len(servers)-1])
	c.waitMembers(t, via, rest...)
	t.Logf("%s left the etcd membership once its Node was deleted", gone)

	// Its data dir joined the cluster with --server: --cluster-init on it
	// would split the cluster, and is refused before anything starts.
	ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
	defer cancel()
	out, err := dh.Docker(ctx, nil, "run", "--rm", "--network", "none", "--volumes-from", c.servers[gone].ID,
		"--entrypoint", "/usr/local/bin/skiff", c.env.Tag, "server", "--cluster-init", "--node-name", gone)
	if err == nil || !strings.Contains(out, "is already a member of the cluster joined at") {
		t.Errorf("--cluster-init on a joined member's data dir: %v, want a refusal saying it joined a cluster:\n%s", err, out)
	} else {
		t.Logf("--cluster-init on a joined member refused: %s", lastLine(out))
	}

	fresh.Start(t)
	c.waitAPI(t, fresh)
	now := append(rest, fresh.Name)
	c.waitMembers(t, via, now...)
	c.waitReady(t, via, now...)
	var kc kubernetes.Interface = c.clientFor(t, fresh.Name, 10*time.Second)
	if _, err := kc.CoreV1().ConfigMaps("writes").Get(context.Background(), "w-0000", metav1.GetOptions{}); err != nil {
		t.Errorf("the fresh server does not serve the cluster's objects: %v", err)
	}
	return now
}

// dockerStdin runs args in n with stdin.
func dockerStdin(n *dh.Node, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
	defer cancel()
	return dh.Docker(ctx, strings.NewReader(stdin), append([]string{"exec", "-i", n.ID}, args...)...)
}
