package cluster

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
	corev1 "k8s.io/api/core/v1"
)

// testRefused is check 3: against cluster A, an agent with a wrong token (A's
// CA hash, a wrong secret), an agent with a valid token of another cluster
// (B's server token: the CA hash does not match A's CA), and `skiff server
// --server` with A's agent token (which joins agents, never servers) each
// exit non-zero with their one clear line, and leave no Node object and no
// node password behind.
func testRefused(t *testing.T, a, b *cluster) {
	hash, _, _ := strings.Cut(a.agentToken, "::")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"wrong_token", []string{"agent", "--server", a.url(), "--token", hash + "::node:wrong" + randomHex(8)}, "refused the token"},
		{"other_cluster_token", []string{"agent", "--server", a.url(), "--token", b.token}, "does not match the CA hash in the token"},
		{"agent_token_joining_a_server", []string{"server", "--server", a.url(), "--token", a.agentToken}, "is an agent token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := a.prefix + "-" + strings.ReplaceAll(tc.name, "_", "-")
			e := dh.RunToExit(t, dh.NodeOptions{
				Tag: a.env.Tag, Name: name, Network: a.nw.Name,
				Args: append(tc.args, "--node-name", name),
			}, refusedTimeout)
			checkRefused(t, e, tc.name, tc.want)
			a.checkNoTrace(t, name)
		})
	}
}

// checkRefused checks that a refused node exited by itself, non-zero, with
// every one of want in its output, and logs the line that says it.
func checkRefused(t *testing.T, e dh.Exit, what string, want ...string) {
	t.Helper()
	if e.TimedOut {
		t.Errorf("%s: still running after %s; it must exit with one line saying why it was refused. Its output:\n%s", what, refusedTimeout, tail(e.Output, 30))
		return
	}
	if e.Code == 0 {
		t.Errorf("%s: exited 0 after %.1f s; want a non-zero exit", what, e.Took.Seconds())
	}
	var line string
	for _, l := range strings.Split(e.Output, "\n") {
		if strings.Contains(l, want[0]) {
			line = l
			break
		}
	}
	for _, w := range want {
		if !strings.Contains(e.Output, w) {
			t.Errorf("%s: exit %d; its output does not say %q:\n%s", what, e.Code, w, tail(e.Output, 30))
			return
		}
	}
	t.Logf("%s: exit %d after %.1f s: %s", what, e.Code, e.Took.Seconds(), strings.TrimSpace(line))
}

// checkNoTrace checks that the refused node left nothing in the cluster:
// no Node object of that name, no node outside the cluster's own, and no
// node password Secret.
func (c *cluster) checkNoTrace(t *testing.T, name string) {
	t.Helper()
	// The cluster's own nodes (some may still be starting), less the
	// refused name.
	own := map[string]bool{c.nodeName(0): true, c.nodeName(1): true, c.nodeName(2): true}
	delete(own, name)
	for _, n := range c.nodes(t) {
		if !own[n.Name] {
			t.Errorf("a Node %s appeared after the refused join", n.Name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
	defer cancel()
	secret := name + ".node-password.skiff"
	if out, err := c.server.Exec(ctx, "kubectl", "-n", "kube-system", "get", "secret", secret, "-o", "name"); err == nil {
		t.Errorf("the refused node left a node password: %s", out)
	}
}

// bootstrapToken is what `skiff token create` prints: K10<CA hash>::<id>.<secret>.
var bootstrapToken = regexp.MustCompile(`^K10[0-9a-f]{64}::([a-z0-9]{6})\.[a-z0-9]{16}$`)

// testBootstrapToken is check 6: a bootstrap token made with `skiff token
// create --ttl 1m` in the server's container joins an agent (its node
// Ready); once the token has expired, a new agent with it is refused
// ("refused the token") and leaves no trace, while the agent that joined
// with it stays Ready.
func (c *cluster) testBootstrapToken(t *testing.T) {
	created := time.Now()
	out := strings.TrimSpace(c.server.MustExec(t, "skiff", "token", "create", "--ttl", "1m", "--description", "e2e check 6"))
	m := bootstrapToken.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("skiff token create printed %q, want one line K10<CA hash>::<id>.<secret>", redact(out))
	}
	tok, id := m[0], m[1]
	if want, _, _ := strings.Cut(c.token, "::"); !strings.HasPrefix(tok, want+"::") {
		t.Errorf("the bootstrap token's CA hash differs from the server token's")
	}
	// When it expires, from its Secret (RFC 3339, whole seconds).
	var s corev1.Secret
	c.getJSON(t, &s, "-n", "kube-system", "get", "secret", "bootstrap-token-"+id)
	exp, err := time.Parse(time.RFC3339, string(s.Data["expiration"]))
	if err != nil {
		t.Fatalf("secret bootstrap-token-%s: expiration %q: %v", id, s.Data["expiration"], err)
	}
	if ttl := exp.Sub(created); ttl < 50*time.Second || ttl > 70*time.Second {
		t.Errorf("the token expires %s after it was created, want about 1m", ttl.Round(time.Second))
	}
	t.Logf("bootstrap token %s expires at %s", id, exp.Format(time.RFC3339))

	joined := dh.StartNode(t, dh.NodeOptions{
		Tag: c.env.Tag, Name: c.nodeName(1), Network: c.nw.Name, IP: c.nw.Addr(c.ipBase + 1),
		Args: []string{"agent", "--server", c.url(), "--token", tok}, Preload: c.images,
	})
	c.agents = []*dh.Node{joined}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpState(t)
		}
	})
	c.waitNodeReady(t, c.nodeName(1), time.Time{}, nodeReadyTimeout, joined)
	t.Logf("%s joined with the bootstrap token: Ready %.1f s after docker start, %.1f s before the token expires",
		joined.Name, time.Since(joined.Started).Seconds(), time.Until(exp).Seconds())

	// The apiserver compares the expiry with its clock, the same host clock.
	time.Sleep(time.Until(exp) + 3*time.Second)
	name := c.nodeName(2)
	e := dh.RunToExit(t, dh.NodeOptions{
		Tag: c.env.Tag, Name: name, Network: c.nw.Name,
		Args: []string{"agent", "--server", c.url(), "--token", tok},
	}, refusedTimeout)
	checkRefused(t, e, "an agent with the expired bootstrap token", "refused the token")
	c.checkNoTrace(t, name)
	if r := readyCondition(c.node(t, c.nodeName(1))); r.Status != corev1.ConditionTrue {
		t.Errorf("%s, which joined with the token, is Ready=%s (%s) once the token expired", c.nodeName(1), r.Status, r.Message)
	}
}
