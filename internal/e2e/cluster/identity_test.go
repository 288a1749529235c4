package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
	corev1 "k8s.io/api/core/v1"
)

// testIdentity is check 4: a second agent claiming an existing node's name
// is refused with a line that points to --node-name and --with-node-id, and
// the node it claimed is left as it was; an agent restarted in place keeps
// its name (its Node object, not a new one) and its running pods, down to
// the containers; an agent whose whole container restarts keeps its name
// and its pods (the same pod objects, Running again on it).
func (c *cluster) testIdentity(t *testing.T) {
	// One pod pinned to each agent, to see what a restart does to it;
	// restartPolicy Always, as a Deployment's pods have: with Never, a pod
	// whose sandbox died with its node container is Failed for good.
	keep := map[int]string{}
	for i := 1; i <= 2; i++ {
		keep[i] = fmt.Sprintf("keep-%d-%s", i, randomHex(2))
		c.kubectl(t, "run", keep[i], "--image="+dh.TestImage, "--image-pull-policy=Never", "--restart=Always",
			"--labels=test=keep", "--overrides", fmt.Sprintf(`{"spec":{"nodeName":%q,"terminationGracePeriodSeconds":1}}`, c.nodeName(i)))
	}
	t.Cleanup(func() {
		c.server.Exec(context.Background(), "kubectl", "delete", "pod", "-l", "test=keep", "--wait=false")
	})
	c.waitPodsReady(t, "test=keep", 2, podRunningTimeout)
	before := c.nodes(t)

	t.Run("name_taken", func(t *testing.T) {
		taken := c.nodeName(1)
		e := dh.RunToExit(t, dh.NodeOptions{
			Tag: c.env.Tag, Name: c.prefix + "-dup", Network: c.nw.Name,
			Args: []string{"agent", "--server", c.url(), "--token", c.agentToken, "--node-name", taken},
		}, refusedTimeout)
		checkRefused(t, e, "an agent claiming the node name "+taken, "already taken", "--with-node-id")
		after := c.nodes(t)
		if !slices.Equal(nodeNames(after), nodeNames(before)) {
			t.Errorf("nodes were %v, are %v after the refused agent", nodeNames(before), nodeNames(after))
		}
		if was, is := findNode(before, taken), findNode(after, taken); was.UID != is.UID || readyCondition(is).Status != corev1.ConditionTrue {
			t.Errorf("node %s: uid %s Ready=%s after the refused agent, was uid %s", taken, is.UID, readyCondition(is).Status, was.UID)
		}
	})

	// Agent 1 runs under restartWrapper: TERM to skiff stops the agent
	// alone, and the wrapper starts it again in the same container.
	t.Run("agent_process_restart_keeps_name_and_containers", func(t *testing.T) {
		agent, name := c.agents[0], c.nodeName(1)
		pod := c.pod(t, keep[1])
		oldPID := strings.TrimSpace(agent.MustExec(t, "cat", "/run/skiff-agent.pid"))
		restarted := time.Now()
		agent.MustExec(t, "kill", "-TERM", oldPID)
		dh.WaitFor(t, 90*time.Second, "skiff agent restarted in "+agent.Name, func(ctx context.Context) (bool, string) {
			out, err := agent.Exec(ctx, "sh", "-c", `pid=$(cat /run/skiff-agent.pid) && kill -0 "$pid" && echo "$pid"`)
			return err == nil && out != oldPID, out
		}, agent)
		c.waitKubeletStarted(t, name, restarted, agent)
		c.waitNodeReady(t, name, restarted, nodeReadyTimeout, agent)
		t.Logf("%s: the agent process restarted and its node is Ready again %.1f s after the TERM", agent.Name, time.Since(restarted).Seconds())
		// The new kubelet's first pod sync and PLEG relist, which would
		// restart a container it failed to adopt, come within seconds.
		time.Sleep(5 * time.Second)
		c.checkKept(t, before, name, pod, true, time.Time{})
	})

	// Agent 2 is a plain node container: docker restart ends every process
	// in it, the pods' too, so their containers start again; the pods
	// themselves (same objects, same node) must stay.
	t.Run("agent_container_restart_keeps_name_and_pods", func(t *testing.T) {
		agent, name := c.agents[1], c.nodeName(2)
		pod := c.pod(t, keep[2])
		restarted := time.Now()
		dh.MustDocker(t, "restart", "-t", "10", agent.ID)
		c.waitKubeletStarted(t, name, restarted, agent)
		c.waitNodeReady(t, name, restarted, nodeReadyTimeout, agent)
		t.Logf("%s: container restarted and its node Ready again %.1f s after docker restart", agent.Name, time.Since(restarted).Seconds())
		c.checkKept(t, before, name, pod, false, restarted)
	})
}

// waitKubeletStarted waits for the event a kubelet records for its node
// when it starts ("Starting kubelet."), from a start at or after since:
// proof that a restarted node runs a new kubelet.
func (c *cluster) waitKubeletStarted(t *testing.T, name string, since time.Time, alive ...*dh.Node) {
	t.Helper()
	since = since.Truncate(time.Second)
	dh.WaitFor(t, nodeReadyTimeout, "a new kubelet on "+name, func(ctx context.Context) (bool, string) {
		var l corev1.EventList
		if err := c.tryGetJSON(ctx, &l, "get", "events", "--field-selector", "involvedObject.kind=Node,involvedObject.name="+name+",reason=Starting"); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range l.Items {
			at := e.LastTimestamp.Time
			if at.IsZero() {
				at = e.EventTime.Time
			}
			from := e.Source.Component
			if from == "" {
				from = e.ReportingController
			}
			seen = append(seen, fmt.Sprintf("%s %q from %s", at.Format(time.RFC3339), e.Message, from))
			if from == "kubelet" && !at.Before(since) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("Starting events: %v", seen)
	}, append(alive, c.server)...)
}

func findNode(nodes []corev1.Node, name string) corev1.Node {
	for _, n := range nodes {
		if n.Name == name {
			return n
		}
	}
	return corev1.Node{}
}

func (c *cluster) pod(t *testing.T, name string) corev1.Pod {
	t.Helper()
	var p corev1.Pod
	c.getJSON(t, &p, "get", "pod", name)
	return p
}

// checkKept checks, after node name restarted: no node was added or
// replaced (same names, same Node uid: the node was renewed with its own
// password, not registered anew), and the pod is the same object, Running
// and Ready on the same node, answering on its IP from the server. With
// sameContainers, its container is also the very one that ran before
// (same container ID, restart count unchanged); otherwise it must have
// become Ready again since then (so that its new IP is the one tried).
func (c *cluster) checkKept(t *testing.T, before []corev1.Node, name string, was corev1.Pod, sameContainers bool, since time.Time) {
	t.Helper()
	after := c.nodes(t)
	if !slices.Equal(nodeNames(after), nodeNames(before)) {
		t.Errorf("nodes were %v, are %v after %s restarted", nodeNames(before), nodeNames(after), name)
	}
	if was, is := findNode(before, name).UID, findNode(after, name).UID; was != is {
		t.Errorf("node %s has uid %s after its restart, was %s: it was registered anew instead of renewed", name, is, was)
	}
	var now corev1.Pod
	dh.WaitFor(t, podRunningTimeout, "pod "+was.Name+" Running and Ready again", func(ctx context.Context) (bool, string) {
		if err := c.tryGetJSON(ctx, &now, "get", "pod", was.Name); err != nil {
			return false, err.Error()
		}
		readySince := true
		for _, cond := range now.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.LastTransitionTime.Time.Before(since.Truncate(time.Second)) {
				readySince = false
			}
		}
		return now.UID == was.UID && now.Status.Phase == corev1.PodRunning && podReady(now) && readySince, podState(now)
	}, c.server)
	if now.UID != was.UID || now.Spec.NodeName != name {
		t.Fatalf("pod %s: uid %s on %q, was uid %s on %q", was.Name, now.UID, now.Spec.NodeName, was.UID, name)
	}
	oldC, newC := was.Status.ContainerStatuses[0], now.Status.ContainerStatuses[0]
	t.Logf("pod %s: container %s, %d restarts before; %s, %d restarts after", was.Name, oldC.ContainerID, oldC.RestartCount, newC.ContainerID, newC.RestartCount)
	if sameContainers && (oldC.ContainerID != newC.ContainerID || oldC.RestartCount != newC.RestartCount) {
		t.Errorf("pod %s: its container was restarted by the agent's restart (container %s → %s, restarts %d → %d); the agent must adopt the running containers",
			was.Name, oldC.ContainerID, newC.ContainerID, oldC.RestartCount, newC.RestartCount)
	}
	u := "http://" + now.Status.PodIP + ":8080/"
	converge(t, c.server, "after "+name+" restarted, from the server", map[string]func(string) bool{
		u: func(b string) bool { return b == was.Name },
	})
}

// moveManifest is check 5's Deployment: two pods on two different nodes
// (one preferably on the agent the test stops), which leave a node as soon
// as it is unreachable or not ready for 5 s instead of the default 300 s.
const moveManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: move
spec:
  replicas: 2
  selector:
    matchLabels: {app: move}
  template:
    metadata:
      labels: {app: move}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels: {app: move}
        nodeAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            preference:
              matchExpressions:
              - {key: kubernetes.io/hostname, operator: In, values: [%q]}
      containers:
      - name: web
        image: ` + dh.TestImage + `
        imagePullPolicy: Never
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
`

// testStopStart is check 5: stop an agent's container and its node goes
// NotReady once the controller-manager's node-monitor-grace-period (20 s
// here) has passed without a heartbeat; its pods, which tolerate an
// unreachable or not-ready node for 5 s only, are evicted and their
// replacements run on another node. Started again, the agent rejoins: its
// node is Ready, untainted, and the evicted pods are gone from it.
func (c *cluster) testStopStart(t *testing.T) {
	c.apply(t, fmt.Sprintf(moveManifest, c.nodeName(2)))
	t.Cleanup(func() { c.server.Exec(context.Background(), "kubectl", "delete", "deployment", "move", "--wait=false") })
	pods := c.waitPodsReady(t, "app=move", 2, podRunningTimeout)
	idx := -1
	for i := len(c.agents); i >= 1; i-- {
		for _, p := range pods {
			if p.Spec.NodeName == c.nodeName(i) && idx < 0 {
				idx = i
			}
		}
	}
	if idx < 0 {
		t.Fatalf("neither agent runs a pod of the Deployment: %v", podPlaces(pods))
	}
	agent, name := c.agents[idx-1], c.nodeName(idx)
	var evicted []corev1.Pod
	for _, p := range pods {
		if p.Spec.NodeName == name {
			evicted = append(evicted, p)
		}
	}
	t.Logf("pods %v; stopping %s", podPlaces(pods), agent.Name)

	stopped := time.Now()
	agent.Stop(t, 10*time.Second)
	dh.WaitFor(t, nodeMonitorGracePeriod+60*time.Second, "node "+name+" NotReady", func(ctx context.Context) (bool, string) {
		var n corev1.Node
		if err := c.tryGetJSON(ctx, &n, "get", "node", name); err != nil {
			return false, err.Error()
		}
		r := readyCondition(n)
		return r.Status != corev1.ConditionTrue, fmt.Sprintf("Ready=%s", r.Status)
	}, c.server)
	t.Logf("%s NotReady %.1f s after docker stop", name, time.Since(stopped).Seconds())
	moved := c.waitPodsReadyOff(t, "app=move", 2, name, nodeMonitorGracePeriod+90*time.Second)
	t.Logf("2 pods Ready off %s %.1f s after docker stop: %v", name, time.Since(stopped).Seconds(), podPlaces(moved))
	for _, p := range moved {
		for _, e := range evicted {
			if p.UID == e.UID {
				t.Errorf("pod %s is still the one that ran on %s", p.Name, name)
			}
		}
	}

	started := time.Now()
	agent.Start(t)
	c.waitNodeReady(t, name, started, nodeReadyTimeout, agent)
	t.Logf("%s rejoined and Ready %.1f s after docker start", name, time.Since(started).Seconds())
	dh.WaitFor(t, 60*time.Second, "node "+name+" untainted and rid of the evicted pods", func(ctx context.Context) (bool, string) {
		var n corev1.Node
		var l corev1.PodList
		if err := c.tryGetJSON(ctx, &n, "get", "node", name); err != nil {
			return false, err.Error()
		}
		if err := c.tryGetJSON(ctx, &l, "get", "pods", "-l", "app=move"); err != nil {
			return false, err.Error()
		}
		var left []string
		for _, taint := range n.Spec.Taints {
			left = append(left, taint.Key)
		}
		for _, p := range l.Items {
			if p.Spec.NodeName == name && p.DeletionTimestamp != nil {
				left = append(left, "pod "+p.Name+" still terminating")
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	}, c.server, agent)
}

// waitPodsReadyOff is waitPodsReady for pods not on node off.
func (c *cluster) waitPodsReadyOff(t *testing.T, selector string, want int, off string, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var ready []corev1.Pod
	dh.WaitFor(t, timeout, fmt.Sprintf("%d pods %s Ready on other nodes than %s", want, selector, off), func(ctx context.Context) (bool, string) {
		var l corev1.PodList
		if err := c.tryGetJSON(ctx, &l, "get", "pods", "-l", selector); err != nil {
			return false, err.Error()
		}
		ready = ready[:0]
		var states []string
		for _, p := range l.Items {
			states = append(states, fmt.Sprintf("%s on %q: %s", p.Name, p.Spec.NodeName, podState(p)))
			if p.Spec.NodeName != off && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(p) {
				ready = append(ready, p)
			}
		}
		return len(ready) == want, strings.Join(states, "; ")
	}, c.server)
	return ready
}
