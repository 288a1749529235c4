package node

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

const lbNS = "e2e-lb"

// lbPort is the LoadBalancer port of the test's Services: unusual, so that
// nothing of the host's is hijacked while the test runs.
const lbPort = 18080

// lbService is a LoadBalancer Service of the web pods in lbNS. class, if
// set, is its loadBalancerClass.
func lbService(name string, port int, class string) string {
	s := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
spec:
  type: LoadBalancer
  selector:
    app: web
  ports:
  - port: %d
    targetPort: 8080
`, name, lbNS, port)
	if class != "" {
		s += "  loadBalancerClass: " + class + "\n"
	}
	return s
}

// TestE2ENodeServiceLB: a LoadBalancer Service gets the node's IP as its
// ingress and answers there at its port, from the node itself and from
// outside it; a second Service on the same port stays pending with an
// Event naming the first, and gets the port once the first is deleted; a
// Service on the kubelet's port is refused with an Event; a Service of
// another loadBalancerClass is left alone.
func TestE2ENodeServiceLB(t *testing.T) {
	integration(t)
	far := newOutside(t) // before the node: its cleanup runs after killall
	n := newNode(t)
	n.Start()
	n.apply(webDeployment(lbNS, 1, "IfNotPresent", true) + "---\n" + lbService("web1", lbPort, ""))
	web := n.waitAvailable(lbNS, "web", podTimeout)
	isWeb := func(body string) bool { return strings.TrimSpace(body) == web[0].Name }
	nodeIP := n.internalIP()

	ingress := n.waitIngress("web1", 60*time.Second)
	if !slices.Equal(ingress, []string{nodeIP}) {
		t.Fatalf("web1's ingress is %v, want the node's InternalIP [%s]", ingress, nodeIP)
	}
	url := fmt.Sprintf("http://%s:%d/", nodeIP, lbPort)

	t.Run("from_the_node", func(t *testing.T) {
		expectHTTP(t, "LoadBalancer IP from the node", url, 30*time.Second, isWeb)
	})

	t.Run("from_outside", func(t *testing.T) {
		// The outside namespace reaches the node's address through its
		// link: the packets arrive from outside (PREROUTING), as a
		// client's on the network would.
		if out, err := exec.Command("ip", "-n", far.NS, "route", "add", nodeIP+"/32", "via", far.HostSide.String()).CombinedOutput(); err != nil {
			t.Fatalf("ip route add in %s: %v: %s", far.NS, err, out)
		}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return dialIn(ctx, far.NS, network, addr)
			},
		}}
		ctx := within(t, 30*time.Second)
		var last string
		ok, err := poll(ctx, 500*time.Millisecond, func() (bool, error) {
			code, body, err := harness.HTTPGet(client, url)
			last = fmt.Sprintf("HTTP %d %q, error %v", code, body, err)
			return err == nil && code == http.StatusOK && isWeb(body), nil
		})
		if !ok {
			t.Errorf("GET %s from outside the node (netns %s): no good answer within 30s: last %s, %v", url, far.NS, last, err)
		}
	})

	t.Run("port_clash", func(t *testing.T) {
		n := n.in(t)
		n.apply(lbService("web2", lbPort, ""))
		ev := n.waitEvent("web2", "PortInUse", 30*time.Second)
		want := fmt.Sprintf("port %d/TCP is used by LoadBalancer Service %s/web1", lbPort, lbNS)
		if ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Message, want) || ev.Source.Component != "servicelb" {
			t.Errorf("web2's event: %s %s from %q: %q; want a Warning from servicelb that says %q", ev.Type, ev.Reason, ev.Source.Component, ev.Message, want)
		}
		if got := n.ingressOf("web2"); len(got) != 0 {
			t.Errorf("web2 has ingress %v while web1 holds its port", got)
		}
		if got := n.ingressOf("web1"); !slices.Equal(got, []string{nodeIP}) {
			t.Errorf("web1's ingress became %v after web2 asked for its port", got)
		}

		n.kubectl("delete", "service", "-n", lbNS, "web1")
		if got := n.waitIngress("web2", 30*time.Second); !slices.Equal(got, []string{nodeIP}) {
			t.Errorf("web2's ingress after web1's deletion: %v, want [%s]", got, nodeIP)
		}
		expectHTTP(t, "web2 at the LoadBalancer IP", url, 30*time.Second, isWeb)
	})

	t.Run("reserved_port", func(t *testing.T) {
		n := n.in(t)
		n.apply(lbService("kubelet-port", 10250, ""))
		ev := n.waitEvent("kubelet-port", "PortInUse", 30*time.Second)
		if !strings.Contains(ev.Message, "port 10250/TCP is used by skiff") {
			t.Errorf("event %q, want it to say that skiff uses 10250/TCP", ev.Message)
		}
		if got := n.ingressOf("kubelet-port"); len(got) != 0 {
			t.Errorf("a Service on the kubelet's port got ingress %v", got)
		}
	})

	t.Run("other_class", func(t *testing.T) {
		n := n.in(t)
		n.apply(lbService("metallb", lbPort+1, "example.com/other"))
		time.Sleep(5 * time.Second) // time enough for a pass, which must not touch it
		if got := n.ingressOf("metallb"); len(got) != 0 {
			t.Errorf("a Service of another loadBalancerClass got ingress %v", got)
		}
		evs, err := n.client.CoreV1().Events(lbNS).List(within(t, 10*time.Second), metav1.ListOptions{FieldSelector: "involvedObject.name=metallb"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs.Items {
			if e.Source.Component == "servicelb" {
				t.Errorf("servicelb sent an Event about a Service of another class: %s %q", e.Reason, e.Message)
			}
		}
	})

	// Disabled, ServiceLB hands its Services back: the next start clears
	// the ingress it set, so that another controller (MetalLB) can serve
	// them, and kube-proxy stops answering on the node's address.
	t.Run("disabled_clears_its_ingress", func(t *testing.T) {
		n.Stop()
		n.Args = append(n.Args, "--disable", "servicelb")
		n.Start()
		n := n.in(t)
		ctx := within(t, 30*time.Second)
		ok, err := poll(ctx, 500*time.Millisecond, func() (bool, error) {
			return len(n.ingressOf("web2")) == 0, nil
		})
		if !ok {
			t.Fatalf("web2 still has ingress %v 30 s after a start with --disable servicelb (%v)", n.ingressOf("web2"), err)
		}
		ok, _ = poll(ctx, 500*time.Millisecond, func() (bool, error) {
			_, _, err := httpGet(url)
			return err != nil, nil
		})
		if !ok {
			t.Errorf("%s still answers with servicelb disabled", url)
		}
	})
}

// internalIP is the node's InternalIP, as its Node object says.
func (n *node) internalIP() string {
	n.t.Helper()
	nd, err := n.client.CoreV1().Nodes().Get(within(n.t, 10*time.Second), n.Name, metav1.GetOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	for _, a := range nd.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && net.ParseIP(a.Address).To4() != nil {
			return a.Address
		}
	}
	n.t.Fatalf("node %s has no IPv4 InternalIP: %v", n.Name, nd.Status.Addresses)
	return ""
}

// ingressOf is the IPs of a Service's status.loadBalancer.ingress.
func (n *node) ingressOf(name string) []string {
	n.t.Helper()
	svc, err := n.client.CoreV1().Services(lbNS).Get(within(n.t, 10*time.Second), name, metav1.GetOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	var out []string
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		out = append(out, ing.IP)
		if ing.IPMode != nil && *ing.IPMode != corev1.LoadBalancerIPModeVIP {
			n.t.Errorf("Service %s: ingress %s has ipMode %s; kube-proxy serves only VIP", name, ing.IP, *ing.IPMode)
		}
	}
	return out
}

// waitIngress waits until a Service has an ingress and returns its IPs.
func (n *node) waitIngress(name string, d time.Duration) []string {
	n.t.Helper()
	var got []string
	ok, _ := poll(within(n.t, d), 250*time.Millisecond, func() (bool, error) {
		got = n.ingressOf(name)
		return len(got) > 0, nil
	})
	if !ok {
		ev, _, _ := n.kubectlRun(nil, "get", "events", "-n", lbNS, "--sort-by=.lastTimestamp")
		n.t.Fatalf("Service %s/%s has no ingress after %v; events:\n%s", lbNS, name, d, tailString(ev, 20))
	}
	return got
}

// waitEvent waits for an Event about a Service with reason.
func (n *node) waitEvent(name, reason string, d time.Duration) corev1.Event {
	n.t.Helper()
	var found *corev1.Event
	ok, err := poll(within(n.t, d), 250*time.Millisecond, func() (bool, error) {
		evs, err := n.client.CoreV1().Events(lbNS).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			return false, err
		}
		for i, e := range evs.Items {
			if e.Reason == reason {
				found = &evs.Items[i]
				return true, nil
			}
		}
		return false, nil
	})
	if !ok {
		ev, _, _ := n.kubectlRun(nil, "get", "events", "-n", lbNS, "--sort-by=.lastTimestamp")
		n.t.Fatalf("no %s Event about Service %s/%s within %v (%v); events:\n%s", reason, lbNS, name, d, err, tailString(ev, 20))
	}
	return *found
}
