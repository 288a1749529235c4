package cluster

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
	corev1 "k8s.io/api/core/v1"
)

// probeManifest is a pod of the test image on every node (a DaemonSet):
// what a pod on a server's node and on an agent's sees of the API and of
// cluster DNS.
const probeManifest = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: probe
spec:
  selector:
    matchLabels: {app: probe}
  template:
    metadata:
      labels: {app: probe}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: probe
        image: ` + dh.TestImage + `
        imagePullPolicy: Never
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
`

// claimManifest is a local-path claim and a pod that uses it, pinned to
// node %[1]s; the pod runs as a user other than root, so it writes only
// if the volume's directory lets it.
const claimManifest = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 10Mi}
---
apiVersion: v1
kind: Pod
metadata:
  name: writer
  labels: {app: writer}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {kubernetes.io/hostname: %[1]s}
  securityContext: {runAsUser: 1000, runAsGroup: 1000}
  containers:
  - name: writer
    image: ` + dh.TestImage + `
    imagePullPolicy: Never
    volumeMounts:
    - {name: data, mountPath: /data}
    readinessProbe:
      httpGet: {path: /healthz, port: 8080}
      periodSeconds: 1
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
`

// lbManifest is a LoadBalancer Service in front of the probe pods, on a
// port nothing on the nodes uses.
const lbManifest = `apiVersion: v1
kind: Service
metadata:
  name: probe-lb
spec:
  type: LoadBalancer
  selector: {app: probe}
  ports:
  - port: 18080
    targetPort: 8080
`

// testBatteries is check 7: what a fresh cluster gives every node, agents
// included, with the cluster's network cut off from the outside (see
// dh.CreateNetwork): a pod on every node calls the API through the
// kubernetes Service and resolves Service and node names; a claim on an
// agent gets a directory on that agent, which outlives its pod and goes
// with the claim; a LoadBalancer Service answers on every node's IP from
// the host; kubectl top lists every node; and no image was pulled.
func (c *cluster) testBatteries(t *testing.T) {
	c.apply(t, probeManifest)
	t.Cleanup(func() {
		c.server.Exec(context.Background(), "kubectl", "delete", "daemonset", "probe", "--wait=false")
	})
	probes := c.waitPodsReady(t, "app=probe", 3, podRunningTimeout)
	nodeByName := map[string]*dh.Node{c.nodeName(0): c.server}
	for i, a := range c.agents {
		nodeByName[c.nodeName(i+1)] = a
	}
	nodeIPs := map[string]string{}
	for name, n := range nodeByName {
		nodeIPs[name] = n.IP(t, c.nw.Name)
	}

	t.Run("api_and_dns_from_a_pod_on_every_node", func(t *testing.T) {
		for _, p := range probes {
			n := nodeByName[p.Spec.NodeName]
			base := "http://" + p.Status.PodIP + ":8080"
			checks := map[string]func(string) bool{
				// With anonymous requests refused, a 200 means the pod's
				// service-account token was accepted.
				base + "/api?path=" + url.QueryEscape("/version"): func(b string) bool {
					code, body, _ := strings.Cut(b, "\n")
					return code == "200" && strings.Contains(body, `"gitVersion"`)
				},
				base + "/lookup?type=A&name=kubernetes.default.svc.cluster.local": func(b string) bool { return b == "10.43.0.1" },
			}
			for name, ip := range nodeIPs {
				checks[base+"/lookup?type=A&name="+name] = func(b string) bool { return b == ip }
			}
			converge(t, n, fmt.Sprintf("from the pod %s on %s", p.Name, p.Spec.NodeName), checks)
		}
	})

	t.Run("local_storage_on_an_agent", func(t *testing.T) {
		agent, agentName := c.agents[0], c.nodeName(1)
		c.apply(t, fmt.Sprintf(claimManifest, agentName))
		t.Cleanup(func() {
			c.server.Exec(context.Background(), "kubectl", "delete", "pod/writer", "pvc/data", "--ignore-not-found", "--wait=false")
		})
		writer := c.waitPodsReady(t, "app=writer", 1, podRunningTimeout)[0]
		write := "http://" + writer.Status.PodIP + ":8080/write?path=/data/hello&data=kept"
		converge(t, agent, "the writer pod writes to its claim", map[string]func(string) bool{
			write: func(b string) bool { return b == "ok" },
		})
		var pvc corev1.PersistentVolumeClaim
		c.getJSON(t, &pvc, "get", "pvc", "data")
		dir := fmt.Sprintf("/var/lib/skiff/storage/%s_default_data", pvc.Spec.VolumeName)
		if got := strings.TrimSpace(agent.MustExec(t, "cat", dir+"/hello")); got != "kept" {
			t.Errorf("%s on %s holds %q, want %q", dir, agent.Name, got, "kept")
		}

		c.kubectl(t, "delete", "pod", "writer", "--wait=true", "--timeout=60s")
		c.apply(t, fmt.Sprintf(claimManifest, agentName))
		writer = c.waitPodsReady(t, "app=writer", 1, podRunningTimeout)[0]
		converge(t, agent, "a new pod reads what the old one wrote", map[string]func(string) bool{
			"http://" + writer.Status.PodIP + ":8080/read?path=/data/hello": func(b string) bool { return b == "kept" },
		})

		c.kubectl(t, "delete", "pod/writer", "pvc/data", "--wait=true", "--timeout=60s")
		dh.WaitFor(t, 60*time.Second, "the volume and its directory gone", func(ctx context.Context) (bool, string) {
			pv, _ := c.server.Exec(ctx, "kubectl", "get", "pv", pvc.Spec.VolumeName, "--ignore-not-found", "-o", "name")
			_, err := agent.Exec(ctx, "test", "-e", dir)
			return strings.TrimSpace(pv) == "" && err != nil, fmt.Sprintf("pv %q, directory there: %v", pv, err == nil)
		}, c.server, agent)
	})

	t.Run("loadbalancer_on_every_node_ip", func(t *testing.T) {
		c.apply(t, lbManifest)
		t.Cleanup(func() {
			c.server.Exec(context.Background(), "kubectl", "delete", "service", "probe-lb", "--wait=false")
		})
		var want []string
		for _, ip := range nodeIPs {
			want = append(want, ip)
		}
		slices.Sort(want)
		dh.WaitFor(t, netTimeout, "probe-lb's ingress lists every node", func(ctx context.Context) (bool, string) {
			var svc corev1.Service
			if err := c.tryGetJSON(ctx, &svc, "get", "service", "probe-lb"); err != nil {
				return false, err.Error()
			}
			var got []string
			for _, in := range svc.Status.LoadBalancer.Ingress {
				got = append(got, in.IP)
			}
			slices.Sort(got)
			return slices.Equal(got, want), fmt.Sprintf("ingress %v, want %v", got, want)
		}, c.server)
		probeNames := map[string]bool{}
		for _, p := range probes {
			probeNames[p.Name] = true
		}
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
		for name, ip := range nodeIPs {
			u := "http://" + ip + ":18080/"
			dh.WaitFor(t, netTimeout, "GET "+u+" (node "+name+") from the host", func(context.Context) (bool, string) {
				body, err := httpGet(hc, u)
				return err == nil && probeNames[body], fmt.Sprintf("%q, %v", body, err)
			}, c.server)
		}
	})

	t.Run("kubectl_top_nodes", func(t *testing.T) {
		dh.WaitFor(t, 90*time.Second, "kubectl top nodes lists every node", func(ctx context.Context) (bool, string) {
			out, err := c.server.Exec(ctx, "kubectl", "top", "nodes", "--no-headers")
			if err != nil {
				return false, out
			}
			seen := 0
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(l)
				if len(f) >= 3 && nodeIPs[f[0]] != "" && strings.HasSuffix(f[1], "m") {
					seen++
				}
			}
			return seen == len(nodeIPs), out
		}, c.server)
	})

	t.Run("no_image_pulled", func(t *testing.T) {
		out := c.kubectl(t, "get", "events", "-A", "--field-selector", "reason=Pulling", "-o", "name")
		if strings.TrimSpace(out) != "" {
			t.Errorf("images were pulled on a cluster with no way out: %s", c.kubectl(t, "get", "events", "-A", "--field-selector", "reason=Pulling"))
		}
	})
}
