package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
	corev1 "k8s.io/api/core/v1"
)

// Bounds. DESIGN.md measures a node Ready about 3 s after exec on the host;
// here up to six node containers start at once on 2 cores, so the bounds
// are for a loaded box, not for speed.
const (
	apiTimeout        = 150 * time.Second // server container start → API answers
	nodeReadyTimeout  = 150 * time.Second // agent container start → its node Ready
	podRunningTimeout = 120 * time.Second
	refusedTimeout    = 120 * time.Second // a refused agent must exit by then
	netTimeout        = 60 * time.Second  // routes and FDB entries converge
)

// nodeMonitorGracePeriod is how long the controller-manager of cluster A
// waits for a node's heartbeat before it marks the node NotReady (40 s by
// default). 20 s, with the pods' tolerationSeconds below, makes test 5 take
// half a minute instead of several; the kubelet renews its lease every 10 s,
// so 20 s still tolerates one late renewal on a busy box.
const nodeMonitorGracePeriod = 20 * time.Second

// TestE2ECluster runs two clusters side by side on one Docker network and
// checks joining, cross-node traffic and node identity on them (see doc.go
// for the plan; each subtest says what it checks).
func TestE2ECluster(t *testing.T) {
	env := dh.Setup(t)
	images := dh.ImagesTar(t, env.Root)
	sfx := dh.Suffix()
	nw := dh.CreateNetwork(t, "skc-"+sfx)

	a := &cluster{
		env: env, nw: nw, images: images, prefix: "skc-" + sfx + "-a", ipBase: 2,
		agentSecret: "agent-" + randomHex(12),
		serverArgs: []string{"--kube-controller-manager-arg",
			fmt.Sprintf("node-monitor-grace-period=%s", nodeMonitorGracePeriod)},
	}
	// B is control plane only: it exists for its own token (another
	// cluster's, for A) and for the bootstrap-token test, whose agent is
	// its only node. No kubelet on the server saves a core's worth of
	// start-up while A's nodes come up.
	b := &cluster{
		env: env, nw: nw, images: images, prefix: "skc-" + sfx + "-b", ipBase: 20,
		serverArgs: []string{"--disable-agent"},
	}
	a.startServer(t)
	b.startServer(t)
	a.waitServer(t)
	b.waitServer(t)

	t.Run("clusters", func(t *testing.T) {
		t.Run("A", func(t *testing.T) {
			t.Parallel()
			a.startAgents(t)
			t.Run("1_three_nodes_pods_services_nodeports", a.testNetwork)
			t.Run("7_batteries_on_every_node_offline", a.testBatteries)
			t.Run("2_logs_exec_through_server_port_only", a.testTunnel)
			t.Run("4_node_name_taken_and_restarts", a.testIdentity)
			t.Run("5_stopped_agent_pods_move_and_it_rejoins", a.testStopStart)
		})
		t.Run("3_refused_joins", func(t *testing.T) {
			t.Parallel()
			testRefused(t, a, b)
		})
		t.Run("6_bootstrap_token_until_it_expires", func(t *testing.T) {
			t.Parallel()
			b.testBootstrapToken(t)
		})
	})
}

// cluster is one server container and its agents. Node names are the
// container names: <prefix>-srv, <prefix>-1, <prefix>-2.
type cluster struct {
	env         dh.Env
	nw          *dh.Network
	images      []byte
	prefix      string
	ipBase      int      // the server's address is nw.Addr(ipBase), agent i's ipBase+i
	agentSecret string   // --agent-token, if not ""
	serverArgs  []string // extra flags of skiff server

	server   *dh.Node
	serverIP string
	// token is the server token, agentToken the token agents join with
	// (the server token when the server has no --agent-token), both as
	// the server wrote them: K10<CA hash>::<user>:<secret>.
	token, agentToken string
	agents            []*dh.Node
	dumped            bool // dumpState ran
}

func (c *cluster) nodeName(i int) string {
	if i == 0 {
		return c.prefix + "-srv"
	}
	return fmt.Sprintf("%s-%d", c.prefix, i)
}

func (c *cluster) url() string { return "https://" + c.serverIP + ":6443" }

// startServer starts the server container, and registers a dump of the
// cluster's state for when the test fails (cleanups run in reverse, so it
// runs while every container still exists).
func (c *cluster) startServer(t *testing.T) {
	t.Helper()
	args := []string{"server", "--node-name", c.nodeName(0)}
	if c.agentSecret != "" {
		args = append(args, "--agent-token", c.agentSecret)
	}
	args = append(args, c.serverArgs...)
	c.serverIP = c.nw.Addr(c.ipBase)
	c.server = dh.StartNode(t, dh.NodeOptions{
		Tag: c.env.Tag, Name: c.nodeName(0), Network: c.nw.Name, IP: c.serverIP,
		Args: args, Preload: c.images,
	})
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpState(t)
		}
	})
}

// waitServer waits for the API and the token files.
func (c *cluster) waitServer(t *testing.T) {
	t.Helper()
	dh.WaitFor(t, apiTimeout, c.server.Name+" API ready", func(ctx context.Context) (bool, string) {
		out, err := c.server.Exec(ctx, "kubectl", "get", "--raw", "/readyz")
		return err == nil && out == "ok", out
	}, c.server)
	t.Logf("%s: API ready %.1f s after docker start", c.server.Name, time.Since(c.server.Started).Seconds())
	c.token = c.readToken(t, "/var/lib/skiff/server/token")
	c.agentToken = c.token
	if c.agentSecret != "" {
		c.agentToken = c.readToken(t, "/var/lib/skiff/server/agent-token")
		if !strings.HasSuffix(c.agentToken, "::node:"+c.agentSecret) {
			t.Errorf("%s: agent-token file holds %q, want K10<CA hash>::node:%s", c.server.Name, redact(c.agentToken), c.agentSecret)
		}
	}
}

func (c *cluster) readToken(t *testing.T, path string) string {
	t.Helper()
	var tok string
	dh.WaitFor(t, 30*time.Second, path+" on "+c.server.Name, func(ctx context.Context) (bool, string) {
		out, err := c.server.Exec(ctx, "cat", path)
		tok = strings.TrimSpace(out)
		return err == nil && strings.HasPrefix(tok, "K10") && strings.Contains(tok, "::"), out
	}, c.server)
	return tok
}

// restartWrapper runs skiff-entrypoint with the container's arguments, and
// again whenever skiff exits, so that a test can restart the skiff agent
// process alone (as `systemctl restart` does on a machine) while the
// container, its containerd and its pods live on: with skiff as the
// container's first process, stopping skiff would end the container and
// kill every process in it. TERM to the container stops skiff and ends it.
const restartWrapper = `trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT
while :; do
	/usr/local/bin/skiff-entrypoint "$@" &
	pid=$!
	echo "$pid" >/run/skiff-agent.pid
	wait "$pid"
	echo "restart-wrapper: skiff exited with $?, starting it again" >&2
	sleep 1
done`

// startAgents starts the two agents of the cluster and waits until all
// three nodes are Ready. Agent 1 runs under restartWrapper with every
// setting on the command line; agent 2 is a plain node container that takes
// the server and token from SKIFF_URL and SKIFF_TOKEN and its node name from
// the host name.
func (c *cluster) startAgents(t *testing.T) {
	t.Helper()
	a1 := dh.CreateNode(t, dh.NodeOptions{
		Tag: c.env.Tag, Name: c.nodeName(1), Network: c.nw.Name, IP: c.nw.Addr(c.ipBase + 1),
		Entrypoint: "/bin/sh",
		Args: []string{"-c", restartWrapper, "restart-wrapper",
			"agent", "--server", c.url(), "--token", c.agentToken, "--node-name", c.nodeName(1)},
		Preload: c.images,
	})
	a2 := dh.CreateNode(t, dh.NodeOptions{
		Tag: c.env.Tag, Name: c.nodeName(2), Network: c.nw.Name, IP: c.nw.Addr(c.ipBase + 2),
		Env:     []string{"SKIFF_URL=" + c.url(), "SKIFF_TOKEN=" + c.agentToken},
		Args:    []string{"agent"},
		Preload: c.images,
	})
	c.agents = []*dh.Node{a1, a2}
	// Registered after the agents: it runs before they are removed.
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpState(t)
		}
	})
	for _, n := range c.agents {
		n.Start(t)
	}
	for i, n := range c.agents {
		c.waitNodeReady(t, c.nodeName(i+1), time.Time{}, nodeReadyTimeout, n)
		t.Logf("%s: node Ready %.1f s after docker start", n.Name, time.Since(n.Started).Seconds())
	}
	c.waitNodeReady(t, c.nodeName(0), time.Time{}, nodeReadyTimeout)
	// The controller-manager creates the default ServiceAccount some
	// seconds after start; no pod can be created before it exists.
	dh.WaitFor(t, 60*time.Second, "ServiceAccount default", func(ctx context.Context) (bool, string) {
		out, err := c.server.Exec(ctx, "kubectl", "get", "serviceaccount", "default", "-o", "name")
		return err == nil, out
	}, c.server)
}

// kubectl runs kubectl in the server container and fails the test on error.
func (c *cluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return c.server.Kubectl(t, args...)
}

// apply is kubectl apply -f - in the server container.
func (c *cluster) apply(t *testing.T, manifest string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
	defer cancel()
	out, err := dh.Docker(ctx, strings.NewReader(manifest), "exec", "-i", c.server.ID, "kubectl", "apply", "-f", "-")
	if err != nil {
		t.Fatalf("kubectl apply: %v: %s\n%s", err, out, manifest)
	}
}

// nodes lists the Node objects.
func (c *cluster) nodes(t *testing.T) []corev1.Node {
	t.Helper()
	var l corev1.NodeList
	c.getJSON(t, &l, "get", "nodes")
	return l.Items
}

func (c *cluster) node(t *testing.T, name string) corev1.Node {
	t.Helper()
	var n corev1.Node
	c.getJSON(t, &n, "get", "node", name)
	return n
}

func nodeNames(nodes []corev1.Node) []string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names
}

func (c *cluster) getJSON(t *testing.T, into any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
	defer cancel()
	if err := c.tryGetJSON(ctx, into, args...); err != nil {
		t.Fatal(err)
	}
}

// tryGetJSON is getJSON for polls, where one failed kubectl is no failure.
func (c *cluster) tryGetJSON(ctx context.Context, into any, args ...string) error {
	out, err := c.server.Exec(ctx, append([]string{"kubectl"}, append(args, "-o", "json")...)...)
	if err != nil {
		return fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	if err := json.Unmarshal([]byte(out), into); err != nil {
		return fmt.Errorf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return nil
}

// readyCondition is the node's Ready condition (Status "" if it has none).
func readyCondition(n corev1.Node) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	return corev1.NodeCondition{}
}

// waitNodeReady waits for the node's Ready condition to be True, with a
// heartbeat from the kubelet at or after since (zero: any), so that a
// restarted node counts only once its new kubelet has reported.
func (c *cluster) waitNodeReady(t *testing.T, name string, since time.Time, timeout time.Duration, alive ...*dh.Node) {
	t.Helper()
	alive = append(alive, c.server)
	since = since.Truncate(time.Second) // heartbeats have seconds only
	dh.WaitFor(t, timeout, "node "+name+" Ready", func(ctx context.Context) (bool, string) {
		var n corev1.Node
		if err := c.tryGetJSON(ctx, &n, "get", "node", name); err != nil {
			return false, err.Error()
		}
		r := readyCondition(n)
		ok := r.Status == corev1.ConditionTrue && !r.LastHeartbeatTime.Time.Before(since)
		return ok, fmt.Sprintf("Ready=%s (%s: %s), last heartbeat %s", r.Status, r.Reason, r.Message, r.LastHeartbeatTime.Format(time.RFC3339))
	}, alive...)
}

// waitPodsReady waits until want pods with the selector are Running and
// Ready (and not being deleted) and returns them.
func (c *cluster) waitPodsReady(t *testing.T, selector string, want int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var ready []corev1.Pod
	dh.WaitFor(t, timeout, fmt.Sprintf("%d pods %s Ready", want, selector), func(ctx context.Context) (bool, string) {
		var l corev1.PodList
		if err := c.tryGetJSON(ctx, &l, "get", "pods", "-l", selector); err != nil {
			return false, err.Error()
		}
		ready = ready[:0]
		var states []string
		for _, p := range l.Items {
			states = append(states, fmt.Sprintf("%s on %q: %s", p.Name, p.Spec.NodeName, podState(p)))
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(p) {
				ready = append(ready, p)
			}
		}
		return len(ready) == want, strings.Join(states, "; ")
	}, c.server)
	return ready
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podState is a short description for failure messages.
func podState(p corev1.Pod) string {
	s := string(p.Status.Phase)
	if p.DeletionTimestamp != nil {
		s += " (deleting)"
	}
	if podReady(p) {
		s += ", Ready"
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			s += fmt.Sprintf(", %s waiting: %s %s", cs.Name, w.Reason, w.Message)
		}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Status != corev1.ConditionTrue && cond.Message != "" {
			s += fmt.Sprintf(", %s: %s", cond.Type, cond.Message)
		}
	}
	return s
}

// fetch GETs each URL from inside node n with busybox wget, in one docker
// exec, and returns the trimmed bodies of those that answered (busybox
// wget's -T crashes here, so `timeout` bounds each one).
func fetch(ctx context.Context, n *dh.Node, urls []string) (map[string]string, error) {
	const script = `for u in "$@"; do
	body=$(timeout 10 wget -q -O- "$u" 2>&1)
	rc=$?
	printf '@@URL %s\n%s\n@@RC %s\n' "$u" "$body" "$rc"
done`
	out, err := n.Exec(ctx, append([]string{"sh", "-c", script, "fetch"}, urls...)...)
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	got := map[string]string{}
	var cur string
	var body []string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "@@URL "):
			cur, body = strings.TrimPrefix(l, "@@URL "), nil
		case strings.HasPrefix(l, "@@RC "):
			b := strings.TrimSpace(strings.Join(body, "\n"))
			if strings.TrimPrefix(l, "@@RC ") == "0" {
				got[cur] = b
			} else {
				got[cur] = "FAILED: " + b
			}
			cur = ""
		case cur != "":
			body = append(body, l)
		}
	}
	return got, nil
}

// dumpState prints what the server knows of nodes, pods and recent events.
func (c *cluster) dumpState(t *testing.T) {
	if ok, _ := c.server.IsRunning(); !ok || c.dumped {
		return
	}
	c.dumped = true
	ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
	defer cancel()
	if _, err := c.server.Exec(ctx, "test", "-e", "/etc/skiff/skiff.yaml"); err != nil {
		return // no API yet
	}
	for _, args := range [][]string{
		{"get", "nodes", "-o", "wide"},
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
	} {
		out, _ := c.server.Exec(ctx, append([]string{"kubectl"}, args...)...)
		t.Logf("%s: kubectl %s:\n%s", c.prefix, strings.Join(args, " "), tail(out, 40))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// redact keeps a token's CA hash and user, not its secret.
func redact(tok string) string {
	if i := strings.LastIndex(tok, ":"); i >= 0 {
		return tok[:i+1] + "<secret>"
	}
	return "<secret>"
}
