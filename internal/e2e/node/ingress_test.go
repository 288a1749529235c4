package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	ingressNS   = "e2e-ingress"
	ingressHost = "whoami.local"
	// traefikTimeout bounds Traefik's start from the node's: its charts
	// installed, its image imported from the binary, its pod Ready and its
	// first configuration read. The target is 15 s from exec on 2
	// cores; a loaded CI box gets much more.
	traefikTimeout = 3 * time.Minute
	// defaultClassAnnotation marks the IngressClass of Ingresses that name
	// none.
	defaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
)

// whoamiIngress is a Service of the web pods in ingressNS and an Ingress
// for host whoami.local to it, naming no class.
func whoamiIngress() string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: %[1]s
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: whoami
  namespace: %[1]s
spec:
  rules:
  - host: %[2]s
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
`, ingressNS, ingressHost)
}

// testIngress: Traefik, installed by default, serves an Ingress that names
// no class on the node's address, HTTP on 80 and HTTPS on 443 with its
// default certificate.
func testIngress(t *testing.T, n *node) {
	nodeIP := n.internalIP()
	defer func() {
		if t.Failed() {
			t.Logf("Traefik:\n%s\n%s\n%s", n.helmChartReport(helmNS, "traefik"), n.describePods(helmNS), n.traefikLogs())
		}
	}()
	n.waitHelmChart(helmNS, "traefik-crd", traefikTimeout, "deployed", deployed)
	hc := n.waitHelmChart(helmNS, "traefik", traefikTimeout, "deployed", deployed)
	if r := hc.Status.Release; r.Chart != "traefik" || r.Namespace != helmNS {
		t.Errorf("Traefik's release is %+v; want chart traefik in %s", *r, helmNS)
	}

	// The default class is what the API gives an Ingress that names none,
	// when the Ingress is created: wait for it first, as a user reads
	// `kubectl get ingressclass` before deploying.
	var class string
	ok, err := poll(within(t, traefikTimeout), 500*time.Millisecond, func() (bool, error) {
		ic, err := n.client.NetworkingV1().IngressClasses().Get(context.Background(), "traefik", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		class = fmt.Sprintf("controller %s, annotations %v", ic.Spec.Controller, ic.Annotations)
		return ic.Annotations[defaultClassAnnotation] == "true" && ic.Spec.Controller == "traefik.io/ingress-controller", nil
	})
	if !ok {
		t.Fatalf("no IngressClass traefik marked default (%s=true) with controller traefik.io/ingress-controller: %s (%v)", defaultClassAnnotation, class, err)
	}

	n.apply(webDeployment(ingressNS, 1, "IfNotPresent", true) + "---\n" + whoamiIngress())
	ing, err := n.client.NetworkingV1().Ingresses(ingressNS).Get(context.Background(), "whoami", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "traefik" {
		t.Errorf("an Ingress that names no class got ingressClassName %v, want traefik (the default class)", ing.Spec.IngressClassName)
	}
	web := n.waitAvailable(ingressNS, "web", podTimeout)
	isWeb := func(body string) bool { return strings.TrimSpace(body) == web[0].Name }

	if got := n.waitServiceIngress(helmNS, "traefik", 60*time.Second); !slices.Equal(got, []string{nodeIP}) {
		t.Errorf("the traefik Service's load balancer ingress is %v, want the node's [%s]", got, nodeIP)
	}

	begin := time.Now()
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	httpURL := "http://" + net.JoinHostPort(nodeIP, "80") + "/"
	if !expectHost(t, plain, httpURL, ingressHost, traefikTimeout, isWeb) {
		t.FailNow()
	}
	t.Logf("the Ingress answered on %s %v after its pod was available", httpURL, time.Since(begin).Round(time.Millisecond))

	// A host no Ingress names: Traefik's own 404, not the web pod.
	if code, body, err := getHost(plain, httpURL, "nobody.local"); err != nil || code != http.StatusNotFound {
		t.Errorf("GET %s with Host nobody.local: HTTP %d %q (%v), want Traefik's 404", httpURL, code, body, err)
	}

	var cn string
	secure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: nil, DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{ServerName: ingressHost, InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) > 0 {
					cn = cs.PeerCertificates[0].Subject.CommonName
				}
				return nil
			}},
	}}
	httpsURL := "https://" + net.JoinHostPort(nodeIP, "443") + "/"
	if expectHost(t, secure, httpsURL, ingressHost, 60*time.Second, isWeb) && cn != "TRAEFIK DEFAULT CERT" {
		t.Errorf("HTTPS on %s presented a certificate for %q, want Traefik's default (CN TRAEFIK DEFAULT CERT)", httpsURL, cn)
	}

	// publishedService: the Ingress shows where it is served, as
	// `kubectl get ingress` prints under ADDRESS.
	var addrs []string
	ok, _ = poll(within(t, 60*time.Second), 500*time.Millisecond, func() (bool, error) {
		ing, err := n.client.NetworkingV1().Ingresses(ingressNS).Get(context.Background(), "whoami", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		addrs = addrs[:0]
		for _, lb := range ing.Status.LoadBalancer.Ingress {
			addrs = append(addrs, lb.IP)
		}
		return slices.Contains(addrs, nodeIP), nil
	})
	if !ok {
		t.Errorf("Ingress whoami's status.loadBalancer has %v, want the node's address %s", addrs, nodeIP)
	}
}

// deployed says whether the HelmChart's release is deployed for its
// current spec, at any revision.
func deployed(hc *helmChart) bool {
	return hc.Status.Release != nil && deployedAt(hc.Status.Release.Revision)(hc)
}

// getHost GETs url with the Host header (and, for HTTPS, the SNI the
// client's TLS config names).
func getHost(hc *http.Client, url, host string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// expectHost GETs url with Host host until it answers 200 with a body ok
// accepts.
func expectHost(t *testing.T, hc *http.Client, url, host string, d time.Duration, ok func(string) bool) bool {
	t.Helper()
	var last string
	good, _ := poll(within(t, d), 500*time.Millisecond, func() (bool, error) {
		code, body, err := getHost(hc, url, host)
		last = fmt.Sprintf("HTTP %d %q, error %v", code, strings.TrimSpace(body), err)
		return err == nil && code == http.StatusOK && ok(body), nil
	})
	if !good {
		t.Errorf("GET %s with Host %s: no answer from the web pod within %v; last %s", url, host, d, last)
	}
	return good
}

// waitServiceIngress waits until a Service has a load balancer ingress
// and returns its IPs.
func (n *node) waitServiceIngress(ns, name string, d time.Duration) []string {
	n.t.Helper()
	var got []string
	ok, err := poll(within(n.t, d), 250*time.Millisecond, func() (bool, error) {
		svc, err := n.client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = got[:0]
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			got = append(got, ing.IP)
		}
		return len(got) > 0, nil
	})
	if !ok {
		ev, _, _ := n.kubectlRun(nil, "get", "events", "-n", ns, "--field-selector", "involvedObject.name="+name)
		n.t.Errorf("Service %s/%s has no load balancer ingress after %v (%v); its events:\n%s", ns, name, d, err, ev)
	}
	return got
}

// traefikLogs is the tail of the Traefik pod's log.
func (n *node) traefikLogs() string {
	out, errOut, _ := n.kubectlRun(nil, "logs", "-n", helmNS, "deployment/traefik", "--tail", "30")
	return "kubectl logs deployment/traefik:\n" + out + errOut
}
