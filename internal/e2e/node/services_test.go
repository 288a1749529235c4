package node

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var servicesManifest = webDeployment("e2e-svc", 2, "IfNotPresent", true) + `---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: e2e-svc
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web-np
  namespace: e2e-svc
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
` + clientDeployment("e2e-svc")

// TestE2ENodeServices: a ClusterIP Service answers from the host and from
// another pod (by its IP: there is no cluster DNS yet); a NodePort Service
// answers on the node's IP; pods reach each other by pod IP; a pod reaches
// the host's own address; and a pod's traffic to an address outside the
// cluster CIDRs is masqueraded to the host's address.
func TestE2ENodeServices(t *testing.T) {
	integration(t)
	hostIP := hostIPv4(t)
	far := newOutside(t) // before the node: its cleanup runs after killall
	n := newNode(t)
	n.Start()
	n.apply(servicesManifest)
	web := n.waitAvailable("e2e-svc", "web", podTimeout)
	client := n.waitAvailable("e2e-svc", "client", podTimeout)[0]
	var webNames, webIPs []string
	for _, p := range web {
		webNames = append(webNames, p.Name)
		webIPs = append(webIPs, p.Status.PodIP)
	}
	isWeb := func(body string) bool { return slices.Contains(webNames, strings.TrimSpace(body)) }
	ctx := within(t, 30*time.Second)
	svc, err := n.client.CoreV1().Services("e2e-svc").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	np, err := n.client.CoreV1().Services("e2e-svc").Get(ctx, "web-np", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clusterIP, nodePort := svc.Spec.ClusterIP, np.Spec.Ports[0].NodePort
	t.Logf("web pods %v at %v; client pod %s at %s; ClusterIP %s; NodePort %d; host %s",
		webNames, webIPs, client.Name, client.Status.PodIP, clusterIP, nodePort, hostIP)
	if _, svcNet, _ := net.ParseCIDR("10.43.0.0/16"); !svcNet.Contains(net.ParseIP(clusterIP)) {
		t.Errorf("ClusterIP %s is not in the default service CIDR 10.43.0.0/16", clusterIP)
	}
	// fetch asks the client pod to GET u and returns what it answered.
	fetch := func(t *testing.T, what, u string, ok func(string) bool) string {
		t.Helper()
		via := fmt.Sprintf("http://%s:8080/fetch?url=%s", client.Status.PodIP, url.QueryEscape(u))
		return expectHTTP(t, what, via, 30*time.Second, func(body string) bool {
			status, rest, _ := strings.Cut(body, "\n")
			return status == "200" && ok(rest)
		})
	}

	t.Run("host_to_pod", func(t *testing.T) {
		for i, ip := range webIPs {
			expectHTTP(t, "pod IP from the host", fmt.Sprintf("http://%s:8080/", ip), 20*time.Second,
				func(b string) bool { return strings.TrimSpace(b) == webNames[i] })
		}
	})

	t.Run("pod_to_pod", func(t *testing.T) {
		for _, ip := range webIPs {
			fetch(t, "pod to pod by pod IP", fmt.Sprintf("http://%s:8080/echo?msg=p2p", ip),
				func(b string) bool { return b == "p2p" })
		}
	})

	t.Run("clusterip_from_host", func(t *testing.T) {
		u := fmt.Sprintf("http://%s/", clusterIP)
		expectHTTP(t, "ClusterIP from the host", u, 30*time.Second, isWeb)
		// Both endpoints serve (a new connection per request): ask until
		// each has answered once. kube-proxy may still have the rules of a
		// moment ago, with one endpoint ready: give it some seconds.
		seen := map[string]bool{}
		deadline := time.Now().Add(20 * time.Second)
		for len(seen) < len(webNames) && time.Now().Before(deadline) {
			seen[strings.TrimSpace(expectHTTP(t, "ClusterIP from the host", u, 10*time.Second, isWeb))] = true
			time.Sleep(20 * time.Millisecond)
		}
		if len(seen) != len(webNames) {
			t.Errorf("requests to the ClusterIP from the host for 20s reached only %v of %v", seen, webNames)
		}
	})

	t.Run("clusterip_from_pod", func(t *testing.T) {
		// One request: the pod's client keeps its connection, so more would
		// go to the same endpoint.
		fetch(t, "ClusterIP from another pod", fmt.Sprintf("http://%s/", clusterIP), isWeb)
	})

	t.Run("nodeport", func(t *testing.T) {
		expectHTTP(t, "NodePort on the node's IP", fmt.Sprintf("http://%s:%d/", hostIP, nodePort), 30*time.Second, isWeb)
	})

	t.Run("pod_to_host_address", func(t *testing.T) {
		rec := hostListener(t, hostIP)
		fetch(t, "the host's address from a pod", rec.URL+"/", func(b string) bool { return strings.HasPrefix(b, "seen ") })
		// Traffic to the node's own address is delivered locally, not
		// routed, so POSTROUTING (and masquerade) does not apply: the
		// listener sees the pod's IP. Recorded, not asserted.
		t.Logf("the host listener %s saw requests from %v (the client pod is %s)", rec.URL, rec.Sources(), client.Status.PodIP)
	})

	t.Run("pod_to_outside_masqueraded", func(t *testing.T) {
		rec := far.Listen(t)
		fetch(t, "an address outside the cluster from a pod", rec.URL+"/", func(b string) bool { return strings.HasPrefix(b, "seen ") })
		srcs := rec.Sources()
		t.Logf("the outside listener %s (netns %s) saw requests from %v", rec.URL, far.NS, srcs)
		for _, s := range srcs {
			if s != far.HostSide.String() {
				t.Errorf("a request from the client pod (%s) reached the outside address from %s; want it masqueraded to the host's address on that link, %s", client.Status.PodIP, s, far.HostSide)
			}
		}
	})
}
