package node

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var restartManifest = webDeployment("e2e-restart", 2, "IfNotPresent", true)

// podFacts is what tells one pod and its container apart across restarts.
type podFacts struct {
	Name, UID, IP, ContainerID string
	Restarts                   int32
}

func factsOf(pods []corev1.Pod) []podFacts {
	var out []podFacts
	for _, p := range pods {
		f := podFacts{Name: p.Name, UID: string(p.UID), IP: p.Status.PodIP}
		if len(p.Status.ContainerStatuses) > 0 {
			f.ContainerID = p.Status.ContainerStatuses[0].ContainerID
			f.Restarts = p.Status.ContainerStatuses[0].RestartCount
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b podFacts) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func names(fs []podFacts) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

// TestE2ENodeRestart: SIGTERM stops skiff but not its containers (they
// still answer on their pod IPs); a new start on the same data dir finds
// the node Ready and adopts the same pods and containers, not restarted.
// skiff killall then leaves no skiff process, shim, mount, cni0 or
// SKIFF-/KUBE- iptables chain; and a start after it brings the same pods
// back.
func TestE2ENodeRestart(t *testing.T) {
	integration(t)
	n := newNode(t)
	n.Start()
	n.apply(restartManifest)
	before := factsOf(n.waitAvailable("e2e-restart", "web", podTimeout))
	t.Logf("before: %+v", before)

	n.Stop()
	for _, p := range before {
		expectHTTP(t, "a pod of a stopped skiff", fmt.Sprintf("http://%s:8080/", p.IP), 10*time.Second,
			func(b string) bool { return strings.TrimSpace(b) == p.Name })
	}
	if t.Failed() {
		t.Fatal("the containers did not outlive skiff server")
	}

	n.Start()
	if ok, out := n.nodeReady(); !ok {
		t.Errorf("after a restart, skiff logged %q but the node is not Ready: %s", readyLine, out)
	}
	after := factsOf(n.waitAvailable("e2e-restart", "web", podTimeout))
	t.Logf("after a restart: %+v", after)
	if !slices.Equal(before, after) {
		t.Errorf("after a restart the pods differ (want the same names, UIDs, IPs and containers, 0 restarts):\nbefore: %+v\nafter:  %+v", before, after)
	}
	for _, p := range after {
		if p.Restarts != 0 {
			t.Errorf("pod %s: restartCount %d after a skiff restart, want 0", p.Name, p.Restarts)
		}
	}

	n.Killall()
	checkHostClean(t, n.DataDir)
	// (No request to the old pod IPs now: with cni0 gone they route to the
	// default gateway, off this machine.)

	// The API still shows the pods as they were until the kubelet has
	// synced them again: wait for new containers.
	n.Start()
	old := map[string]bool{}
	for _, p := range before {
		old[p.ContainerID] = true
	}
	var back []podFacts
	ctx := within(t, podTimeout)
	ok, _ := poll(ctx, 500*time.Millisecond, func() (bool, error) {
		pods := n.podsOf("e2e-restart", "app=web")
		back = factsOf(pods)
		if len(pods) != len(before) {
			return false, nil
		}
		for _, p := range pods {
			if !podRunning(&p) {
				return false, nil
			}
		}
		for _, f := range back {
			if f.ContainerID == "" || old[f.ContainerID] {
				return false, nil
			}
		}
		return true, nil
	})
	t.Logf("after killall and a start: %+v", back)
	if !ok {
		t.Fatalf("after killall and a start the pods did not run again in new containers within %v:\n%s", podTimeout, n.describePods("e2e-restart"))
	}
	n.waitAvailable("e2e-restart", "web", podTimeout)
	if !slices.Equal(names(before), names(back)) {
		t.Errorf("after killall and a start the Deployment runs pods %v, want the same pods %v", names(back), names(before))
	}
	for _, p := range back {
		expectHTTP(t, "a pod brought back after killall", fmt.Sprintf("http://%s:8080/", p.IP), 20*time.Second,
			func(b string) bool { return strings.TrimSpace(b) == p.Name })
	}
}
