package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
	corev1 "k8s.io/api/core/v1"
)

// webManifest is a Deployment of the test image with one pod per node
// (required anti-affinity: a fourth replica would stay Pending rather than
// share a node), behind a NodePort Service, which also has a ClusterIP.
const webManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels: {app: web}
      containers:
      - name: web
        image: ` + dh.TestImage + `
        imagePullPolicy: Never
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
`

// testNetwork is check 1: all three nodes Ready, each with a pod CIDR of
// its own; a Deployment with a pod on every node; every pod reaches every
// other pod (the pod's own /fetch, called from its own node, so the only
// cross-node hop is pod to pod), every node reaches every pod, the
// ClusterIP Service answers from every pod and every node with every
// backend, and the NodePort answers on every node's IP from outside the
// cluster (the test, on the host).
func (c *cluster) testNetwork(t *testing.T) {
	nodes := c.nodes(t)
	want := []string{c.nodeName(0), c.nodeName(1), c.nodeName(2)}
	slices.Sort(want)
	if got := nodeNames(nodes); !slices.Equal(got, want) {
		t.Fatalf("nodes are %v, want %v", got, want)
	}
	cidrs := map[string]string{}
	for _, n := range nodes {
		if r := readyCondition(n); r.Status != corev1.ConditionTrue {
			t.Errorf("node %s: Ready=%s (%s)", n.Name, r.Status, r.Message)
		}
		if n.Spec.PodCIDR == "" {
			t.Errorf("node %s has no pod CIDR", n.Name)
		} else if other, dup := cidrs[n.Spec.PodCIDR]; dup {
			t.Errorf("nodes %s and %s share the pod CIDR %s", other, n.Name, n.Spec.PodCIDR)
		}
		cidrs[n.Spec.PodCIDR] = n.Name
	}
	t.Logf("pod CIDRs: %v", cidrs)

	c.apply(t, webManifest)
	t.Cleanup(func() {
		c.server.Exec(context.Background(), "kubectl", "delete", "deployment,service", "web", "--wait=false")
	})
	pods := c.waitPodsReady(t, "app=web", 3, podRunningTimeout)
	byNode := map[string]corev1.Pod{}
	for _, p := range pods {
		byNode[p.Spec.NodeName] = p
	}
	for _, name := range want {
		if _, ok := byNode[name]; !ok {
			t.Fatalf("no web pod on node %s: the anti-affinity should put one on each node (pods: %v)", name, podPlaces(pods))
		}
	}
	t.Logf("web pods: %v", podPlaces(pods))
	podNames := map[string]bool{}
	for _, p := range pods {
		podNames[p.Name] = true
	}

	var svc corev1.Service
	c.getJSON(t, &svc, "get", "service", "web")
	clusterIP, nodePort := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort
	svcURL := "http://" + clusterIP + ":80/"

	nodeByName := map[string]*dh.Node{c.nodeName(0): c.server}
	for i, a := range c.agents {
		nodeByName[c.nodeName(i+1)] = a
	}

	// From each node: its own pod fetches every other pod and the Service;
	// the node itself GETs every pod (the others are across the overlay).
	t.Run("pod_to_pod_and_service", func(t *testing.T) {
		for _, from := range pods {
			n := nodeByName[from.Spec.NodeName]
			checks := map[string]func(string) bool{}
			via := func(target string) string {
				return "http://" + from.Status.PodIP + ":8080/fetch?url=" + url.QueryEscape(target)
			}
			for _, to := range pods {
				name := to.Name
				checks["http://"+to.Status.PodIP+":8080/"] = func(b string) bool { return b == name }
				if to.Name != from.Name {
					checks[via("http://"+to.Status.PodIP+":8080/")] = func(b string) bool { return b == "200\n"+name }
				}
			}
			checks[via(svcURL)] = func(b string) bool {
				code, pod, _ := strings.Cut(b, "\n")
				return code == "200" && podNames[pod]
			}
			converge(t, n, fmt.Sprintf("from node %s and its pod %s", n.Name, from.Name), checks)
		}
	})

	// From each node, the Service reaches every backend: 30 GETs in one
	// exec, again until all three answered. kube-proxy follows the
	// EndpointSlices at most once a second (its min sync period), so a
	// backend that just became Ready may be missing for a moment.
	t.Run("service_from_every_node", func(t *testing.T) {
		for _, n := range nodeByName {
			urls := make([]string, 30)
			for i := range urls {
				urls[i] = svcURL + "?try=" + fmt.Sprint(i)
			}
			var seen map[string]int
			for deadline := time.Now().Add(30 * time.Second); ; {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				got, err := fetch(ctx, n, urls)
				cancel()
				if err != nil {
					t.Fatalf("%s: %v", n.Name, err)
				}
				seen = map[string]int{}
				for _, u := range urls {
					b := got[u]
					if !podNames[b] {
						t.Errorf("%s: GET %s: %q, want a web pod's name", n.Name, u, b)
						continue
					}
					seen[b]++
				}
				if len(seen) == len(podNames) || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Second)
			}
			if len(seen) != len(podNames) {
				t.Errorf("%s: 30 GETs of the Service %s reached only %v of the 3 pods, for 30 s", n.Name, svcURL, seen)
			}
			t.Logf("%s → Service %s: %v", n.Name, svcURL, seen)
		}
	})

	// The NodePort on every node's IP, from the host: 10 GETs each, every
	// one answered by a web pod (kube-proxy sends most of them to pods on
	// other nodes).
	t.Run("nodeport_on_every_node_ip", func(t *testing.T) {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
		for name, n := range nodeByName {
			ip := n.IP(t, c.nw.Name)
			u := fmt.Sprintf("http://%s:%d/", ip, nodePort)
			seen := map[string]int{}
			deadline := time.Now().Add(netTimeout)
			for tries := 0; tries < 10; {
				body, err := httpGet(hc, u)
				if err == nil && podNames[body] {
					seen[body]++
					tries++
					continue
				}
				if time.Now().After(deadline) {
					t.Errorf("NodePort on node %s: GET %s: %q, %v", name, u, body, err)
					break
				}
				time.Sleep(time.Second)
			}
			t.Logf("NodePort %s (node %s): %v", u, name, seen)
		}
	})
}

// converge runs every check from node n until all pass or netTimeout ends
// (a new node's routes and FDB entries take a moment to reach the others),
// then fails naming each check that never passed and its last answer.
func converge(t *testing.T, n *dh.Node, what string, checks map[string]func(body string) bool) {
	t.Helper()
	pending := map[string]string{}
	for u := range checks {
		pending[u] = "(not tried)"
	}
	start := time.Now()
	for len(pending) > 0 {
		var urls []string
		for u := range pending {
			urls = append(urls, u)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		got, err := fetch(ctx, n, urls)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for _, u := range urls {
			if checks[u](got[u]) {
				delete(pending, u)
			} else {
				pending[u] = got[u]
			}
		}
		if len(pending) == 0 || time.Since(start) > netTimeout {
			break
		}
		time.Sleep(time.Second)
	}
	for u, last := range pending {
		t.Errorf("%s: GET %s never answered as expected within %s; last answer: %q", what, u, netTimeout, last)
	}
	if len(pending) == 0 {
		t.Logf("%s: %d GETs answered (%.1f s)", what, len(checks), time.Since(start).Seconds())
	}
}

func httpGet(hc *http.Client, u string) (string, error) {
	resp, err := hc.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %s", resp.Status)
	}
	return strings.TrimSpace(string(b)), err
}

// podPlaces is "pod@node(ip)" for each pod.
func podPlaces(pods []corev1.Pod) []string {
	var s []string
	for _, p := range pods {
		s = append(s, fmt.Sprintf("%s@%s(%s)", p.Name, p.Spec.NodeName, p.Status.PodIP))
	}
	return s
}
