package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
)

// kubeletPort is the kubelet's HTTPS port, which the apiserver dials for
// logs, exec, port-forward and metrics.
const kubeletPort = 10250

// testTunnel is check 2: with the agent's kubelet port unreachable from the
// server's container (dropped by iptables in the agent container, for
// packets from the server's IP, as a NAT in between would), `kubectl logs`
// and `kubectl exec` to a pod on that agent still work: the apiserver
// reaches the kubelet through the tunnel the agent opened to port 6443. The
// port is first shown reachable, then unreachable, from the server.
func (c *cluster) testTunnel(t *testing.T) {
	agent, nodeName := c.agents[1], c.nodeName(2)
	pod := "tunnel-" + randomHex(3)
	c.kubectl(t, "run", pod, "--image="+dh.TestImage, "--image-pull-policy=Never", "--restart=Never",
		"--labels=test=tunnel", "--overrides", fmt.Sprintf(`{"spec":{"nodeName":%q,"terminationGracePeriodSeconds":1}}`, nodeName))
	t.Cleanup(func() { c.server.Exec(context.Background(), "kubectl", "delete", "pod", pod, "--wait=false") })
	c.waitPodsReady(t, "test=tunnel", 1, podRunningTimeout)

	agentIP := agent.IP(t, c.nw.Name)
	probe := func() (reachable bool, answer string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		// Any answer of the kubelet (an HTTP status, a TLS error) means
		// the port is reachable; a timeout means it is not.
		out, err := c.server.Exec(ctx, "timeout", "5", "wget", "--no-check-certificate", "-q", "-O-",
			fmt.Sprintf("https://%s:%d/healthz", agentIP, kubeletPort))
		took := time.Since(start)
		code := dh.ExitCode(err)
		answer = fmt.Sprintf("exit %d after %.1f s: %s", code, took.Seconds(), out)
		timedOut := code == 124 || code == 143 || took >= 4500*time.Millisecond
		refused := strings.Contains(out, "refused") || strings.Contains(out, "unreachable")
		return !timedOut && !refused, answer
	}
	if ok, answer := probe(); !ok {
		t.Fatalf("before blocking it: %s's kubelet port %s:%d does not answer from the server's container: %s", nodeName, agentIP, kubeletPort, answer)
	} else {
		t.Logf("before blocking it, from the server's container, %s:%d answers: %s", agentIP, kubeletPort, answer)
	}

	rule := []string{"INPUT", "-s", c.serverIP, "-p", "tcp", "--dport", fmt.Sprint(kubeletPort), "-j", "DROP"}
	agent.MustExec(t, append([]string{"iptables", "-I"}, rule...)...)
	t.Cleanup(func() { agent.Exec(context.Background(), append([]string{"iptables", "-D"}, rule...)...) })
	if ok, answer := probe(); ok {
		t.Fatalf("after dropping its packets in %s, the kubelet port still answers from the server's container: %s", agent.Name, answer)
	} else {
		t.Logf("blocked: from the server's container %s:%d does not answer: %s", agentIP, kubeletPort, answer)
	}

	t.Run("logs", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
		defer cancel()
		out, err := c.server.Exec(ctx, "kubectl", "logs", pod)
		if err != nil || !strings.Contains(out, "test-http: listening on") {
			t.Errorf("kubectl logs %s (on %s): %v: %q, want the test image's \"test-http: listening on\" line", pod, nodeName, err, out)
		}
	})
	t.Run("exec", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
		defer cancel()
		// The test image holds only /test-http; "exit 3" prints a line and
		// exits 3, which kubectl exec must pass on.
		out, err := c.server.Exec(ctx, "kubectl", "exec", pod, "--", "/test-http", "exit", "3")
		if code := dh.ExitCode(err); code != 3 || !strings.Contains(out, "test-http: exiting with code 3") {
			t.Errorf("kubectl exec %s -- /test-http exit 3 (on %s): exit %d, %q; want exit 3 and \"test-http: exiting with code 3\"", pod, nodeName, code, out)
		}
	})
}
