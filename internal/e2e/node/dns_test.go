package node

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names the test's own resolver answers, and with what. The .test TLD and
// TEST-NET-1 addresses (RFC 2606, RFC 5737) are never real.
const (
	outsideName   = "outside.skiff-e2e.test"
	outsideIP     = "192.0.2.10"
	overrideName  = "made-up.skiff-e2e.test"
	overrideIP    = "192.0.2.77"
	serverZone    = "server-block.test"
	serverBlockIP = "192.0.2.78"
	dnsTimeout    = 30 * time.Second // the bound for a coredns-custom change
)

var dnsManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: e2e-dns
---
apiVersion: v1
kind: Namespace
metadata:
  name: e2e-dns-other
---
` + clientDeployment("e2e-dns") + `---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: e2e-dns-other
spec:
  selector:
    app: named
  ports:
  - port: 80
    targetPort: 8080
---
# Headless: its pods are named <hostname>.hl.e2e-dns-other.svc.<domain>.
apiVersion: v1
kind: Service
metadata:
  name: hl
  namespace: e2e-dns-other
spec:
  clusterIP: None
  selector:
    app: named
  ports:
  - port: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: named
  namespace: e2e-dns-other
  labels:
    app: named
spec:
  hostname: named
  subdomain: hl
  terminationGracePeriodSeconds: 5
  containers:
  - name: http
    image: ` + testImage + `
    imagePullPolicy: IfNotPresent
    readinessProbe:
      httpGet:
        path: /healthz
        port: 8080
      periodSeconds: 1
`

// TestE2ENodeDNS: from a pod, cluster DNS resolves the API's Service, a
// Service in another namespace by name.namespace, a headless Service's pod
// by hostname, the node by its name (NodeHosts), and an outside name that
// only the host's resolver (given with --resolv-conf) knows; a
// coredns-custom addition (an .override and a .server key) is served
// within 30 s; a coredns-custom that does not parse is logged by CoreDNS,
// which keeps serving its last configuration without a restart; and
// CoreDNS's image was never pulled.
func TestE2ENodeDNS(t *testing.T) {
	integration(t)
	hostIP := hostIPv4(t)
	upstream := startResolver(t, hostIP)
	resolvConf := filepath.Join(t.TempDir(), "resolv.conf")
	writeFile(t, resolvConf, "nameserver "+hostIP.String()+"\n")

	n := newNode(t, "--resolv-conf", resolvConf)
	n.Start()
	coredns := n.waitCoreDNS(2 * podTimeout)
	n.apply(dnsManifest)
	client := n.waitAvailable("e2e-dns", "client", podTimeout)[0]
	named := n.waitPod("e2e-dns-other", "named", podTimeout, "ready", podRunning)
	ctx := within(t, 30*time.Second)
	web, err := n.client.CoreV1().Services("e2e-dns-other").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	self, err := n.client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var nodeIP string
	for _, a := range self.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			nodeIP = a.Address
			break
		}
	}

	// lookup asks the client pod to resolve name (A records) until it
	// answers want, and returns how long that took.
	lookup := func(t *testing.T, what, name, want string, d time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		via := fmt.Sprintf("http://%s:8080/lookup?type=A&name=%s", client.Status.PodIP, url.QueryEscape(name))
		expectHTTP(t, what, via, d, func(body string) bool {
			return slices.Contains(strings.Fields(body), want)
		})
		return time.Since(start)
	}

	t.Run("cluster_names", func(t *testing.T) {
		lookup(t, "the API's Service", "kubernetes.default.svc.cluster.local", "10.43.0.1", 20*time.Second)
		lookup(t, "a Service in another namespace by name.namespace", "web.e2e-dns-other", web.Spec.ClusterIP, 20*time.Second)
		lookup(t, "a headless Service's pod by hostname", "named.hl.e2e-dns-other.svc.cluster.local", named.Status.PodIP, 20*time.Second)
	})

	t.Run("node_by_name", func(t *testing.T) {
		if nodeIP == "" {
			t.Fatalf("node %s reports no InternalIP: %+v", n.Name, self.Status.Addresses)
		}
		// NodeHosts reaches CoreDNS's hosts file when skiff has written it
		// and the kubelet has rewritten the volume: seconds, not a minute.
		took := lookup(t, "the node by its name", n.Name, nodeIP, dnsTimeout)
		t.Logf("%s resolved to %s after %v", n.Name, nodeIP, took.Round(time.Millisecond))
	})

	t.Run("outside_name_via_resolv_conf", func(t *testing.T) {
		lookup(t, "a name only the host's resolver knows", outsideName, outsideIP, 20*time.Second)
		if !slices.Contains(upstream.Queries(), outsideName+".") {
			t.Errorf("the test resolver at %s never saw %s; it saw %v", hostIP, outsideName, upstream.Queries())
		}
	})

	t.Run("coredns_custom", func(t *testing.T) {
		// Not looked up before: a cached NXDOMAIN (cache 30) would hide the
		// change for up to 30 s.
		n.apply(`apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns-custom
  namespace: kube-system
data:
  e2e.override: |
    template IN A ` + overrideName + ` {
      answer "` + overrideName + `. 60 IN A ` + overrideIP + `"
    }
  e2e.server: |
    ` + serverZone + `:53 {
      template IN A ` + serverZone + ` {
        answer "{{ .Name }} 60 IN A ` + serverBlockIP + `"
      }
    }
`)
		took := lookup(t, "an .override answer", overrideName, overrideIP, dnsTimeout)
		t.Logf("the coredns-custom .override was served %v after kubectl apply", took.Round(time.Millisecond))
		lookup(t, "a .server block's answer", "x."+serverZone, serverBlockIP, dnsTimeout)
		lookup(t, "the API's Service, with coredns-custom", "kubernetes.default.svc.cluster.local", "10.43.0.1", 10*time.Second)
	})

	t.Run("broken_coredns_custom_keeps_serving", func(t *testing.T) {
		before := n.coreDNSLogs()
		// An unclosed block: the Corefile, with its imports, no longer parses.
		n.kubectl("patch", "configmap", "coredns-custom", "-n", "kube-system", "--type=merge",
			"-p", `{"data":{"broken.override":"template IN A broken.test {\n"}}`)
		ctx := within(t, dnsTimeout+15*time.Second)
		ok, _ := poll(ctx, time.Second, func() (bool, error) {
			logs := strings.TrimPrefix(n.coreDNSLogs(), before)
			return strings.Contains(logs, "parse failed") || strings.Contains(logs, "reload failed"), nil
		})
		if !ok {
			t.Errorf("CoreDNS did not log the broken coredns-custom within %v; its log:\n%s", dnsTimeout+15*time.Second, tailString(n.coreDNSLogs(), 30))
		}
		lookup(t, "the API's Service after a broken edit", "kubernetes.default.svc.cluster.local", "10.43.0.1", 10*time.Second)
		lookup(t, "the last good .override after a broken edit", overrideName, overrideIP, 10*time.Second)
		for _, p := range n.podsOf("kube-system", "k8s-app=kube-dns") {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.RestartCount > 0 {
					t.Errorf("CoreDNS pod %s restarted %d times after a broken coredns-custom", p.Name, cs.RestartCount)
				}
			}
		}
		// Fixed again, it is served again.
		n.kubectl("patch", "configmap", "coredns-custom", "-n", "kube-system", "--type=json",
			"-p", `[{"op":"remove","path":"/data/broken.override"}]`)
		lookup(t, "the API's Service after the fix", "kubernetes.default.svc.cluster.local", "10.43.0.1", 10*time.Second)
	})

	t.Run("no_image_pull", func(t *testing.T) {
		ctx := within(t, 30*time.Second)
		events, err := n.client.CoreV1().Events("kube-system").List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.name=" + coredns.Name,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events.Items {
			if e.Reason == "Pulling" || e.Reason == "Failed" {
				t.Errorf("CoreDNS's pod %s: event %s: %s (its image is built into skiff: nothing should be pulled)", coredns.Name, e.Reason, e.Message)
			}
		}
	})
}

// waitCoreDNS waits until the coredns addon's Deployment is available and
// returns its pod.
func (n *node) waitCoreDNS(d time.Duration) corev1.Pod {
	n.t.Helper()
	ctx := within(n.t, d)
	var pods []corev1.Pod
	ok, err := poll(ctx, 500*time.Millisecond, func() (bool, error) {
		dep, err := n.client.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if dep.Status.AvailableReplicas < 1 || dep.Status.UpdatedReplicas != dep.Status.Replicas {
			return false, nil
		}
		pods = n.podsOf("kube-system", "k8s-app=kube-dns")
		return len(pods) > 0, nil
	})
	if !ok {
		n.t.Fatalf("CoreDNS was not available within %v: %v\n%s", d, err, n.describePods("kube-system"))
	}
	return pods[0]
}

// coreDNSLogs is the log of every CoreDNS pod.
func (n *node) coreDNSLogs() string {
	out, errOut, _ := n.kubectlRun(nil, "logs", "-n", "kube-system", "-l", "k8s-app=kube-dns", "--tail=-1")
	return out + errOut
}

// resolver is the host's DNS server in this test: it answers outsideName
// and says NXDOMAIN to anything else, and remembers what it was asked.
type resolver struct {
	mu      sync.Mutex
	queries []string
}

func (r *resolver) Queries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.queries)
}

func (r *resolver) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	for _, q := range req.Question {
		r.mu.Lock()
		r.queries = append(r.queries, q.Name)
		r.mu.Unlock()
		if strings.EqualFold(q.Name, outsideName+".") && q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.ParseIP(outsideIP).To4(),
			})
		}
	}
	if len(m.Answer) == 0 {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m) //nolint:errcheck // the client retries
}

// startResolver serves DNS on ip:53, UDP and TCP, until the test ends.
func startResolver(t *testing.T, ip net.IP) *resolver {
	t.Helper()
	addr := net.JoinHostPort(ip.String(), "53")
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatalf("the test's resolver cannot listen on %s/udp (%v): stop what serves DNS on the host's address", addr, err)
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		pc.Close()
		t.Fatalf("the test's resolver cannot listen on %s/tcp (%v): stop what serves DNS on the host's address", addr, err)
	}
	r := &resolver{}
	udp := &dns.Server{PacketConn: pc, Handler: r}
	tcp := &dns.Server{Listener: l, Handler: r}
	go udp.ActivateAndServe() //nolint:errcheck // ends with Shutdown
	go tcp.ActivateAndServe() //nolint:errcheck
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		udp.ShutdownContext(ctx) //nolint:errcheck
		tcp.ShutdownContext(ctx) //nolint:errcheck
	})
	return r
}
