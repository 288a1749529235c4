package node

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/internal/metricsserver"
)

const (
	metricsNS = "e2e-metrics"
	// metricsDeadline is what the issue promises: `kubectl top` prints
	// numbers within 90 s of start.
	metricsDeadline = 90 * time.Second
	// hpaDeadline: the HPA controller syncs every 15 s and ignores a CPU
	// sample whose window overlaps the pod's becoming Ready.
	hpaDeadline = 2 * time.Minute
	// apiService is the addon's APIService.
	apiService = "v1beta1.metrics.k8s.io"
)

// topNodeLine matches this node's line of `kubectl top nodes`:
// NAME CPU(cores) CPU% MEMORY(bytes) MEMORY%.
func topNodeLine(name string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%`)
}

// TestE2ENodeMetrics: the metrics API, served in the server's process,
// answers `kubectl top nodes` and `kubectl top pods -A` with numbers within
// 90 s of start; its APIService is Available with the server CA (not
// insecureSkipTLSVerify), behind an EndpointSlice of this server at the
// HTTPS port + 2; an HPA on CPU shows a current value; and a restart with
// --disable metrics-server removes the APIService, the Service and the
// slice, and closes the port.
func TestE2ENodeMetrics(t *testing.T) {
	integration(t)
	n := newNode(t)
	begin := time.Now()
	n.Start()

	// A workload with a CPU request, for `top pods` and the HPA.
	n.apply(webDeployment(metricsNS, 1, "IfNotPresent", true))
	n.kubectl("-n", metricsNS, "set", "resources", "deployment/web", "--requests=cpu=20m")
	n.waitAvailable(metricsNS, "web", podTimeout)

	t.Run("top nodes", func(t *testing.T) {
		m := n.in(t)
		out := m.waitTop(begin.Add(metricsDeadline), topNodeLine(m.Name), "top", "nodes")
		t.Logf("kubectl top nodes, %v after start:\n%s", time.Since(begin).Round(time.Second), out)
	})
	t.Run("top pods", func(t *testing.T) {
		m := n.in(t)
		line := regexp.MustCompile(`(?m)^` + metricsNS + `\s+web-\S+\s+\d+m\s+\d+Mi`)
		out := m.waitTop(begin.Add(metricsDeadline), line, "top", "pods", "-A")
		t.Logf("kubectl top pods -A, %v after start:\n%s", time.Since(begin).Round(time.Second), out)
	})
	t.Run("APIService and endpoint", func(t *testing.T) {
		m := n.in(t)
		avail := m.kubectl("get", "apiservice", apiService, "-o", `jsonpath={.status.conditions[?(@.type=="Available")].status}`)
		if avail != "True" {
			t.Errorf("APIService %s Available = %q, want True", apiService, avail)
		}
		if insecure := m.kubectl("get", "apiservice", apiService, "-o", "jsonpath={.spec.insecureSkipTLSVerify}"); insecure == "true" {
			t.Error("the APIService skips TLS verification; it should carry the server CA")
		}
		slices := m.metricsSlices(t)
		if len(slices) != 1 {
			t.Fatalf("%d EndpointSlices of %s/%s, want this server's one: %+v", len(slices), metricsserver.Namespace, metricsserver.ServiceName, slices)
		}
		s := slices[0]
		want := strconv.Itoa(m.Port + 2)
		if len(s.Ports) != 1 || s.Ports[0].Port == nil || strconv.Itoa(int(*s.Ports[0].Port)) != want {
			t.Errorf("slice %s ports %+v, want %s (the HTTPS port + 2)", s.Name, s.Ports, want)
		}
		if len(s.Endpoints) != 1 || len(s.Endpoints[0].Addresses) != 1 || s.Endpoints[0].Addresses[0] != hostIPv4(t).String() {
			t.Errorf("slice %s endpoints %+v, want this host's %s", s.Name, s.Endpoints, hostIPv4(t))
		}
		if len(s.OwnerReferences) == 0 || s.OwnerReferences[0].Kind != "Service" {
			t.Errorf("slice %s is not owned by the Service: %+v", s.Name, s.OwnerReferences)
		}
	})
	t.Run("HPA on CPU", func(t *testing.T) {
		m := n.in(t)
		m.kubectl("-n", metricsNS, "autoscale", "deployment/web", "--cpu=50%", "--min=1", "--max=2")
		ctx := within(t, hpaDeadline)
		var last string
		ok, err := poll(ctx, 2*time.Second, func() (bool, error) {
			hpa, err := m.client.AutoscalingV2().HorizontalPodAutoscalers(metricsNS).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			last = fmt.Sprintf("%+v", hpa.Status)
			for _, cm := range hpa.Status.CurrentMetrics {
				if cm.Resource != nil && cm.Resource.Name == "cpu" && cm.Resource.Current.AverageUtilization != nil {
					t.Logf("HPA web: CPU %d%% of its request", *cm.Resource.Current.AverageUtilization)
					return true, nil
				}
			}
			return false, nil
		})
		if !ok {
			out, _, _ := m.kubectlRun(nil, "-n", metricsNS, "describe", "hpa", "web")
			t.Fatalf("the HPA shows no current CPU value within %v (%v); status %s\n%s", hpaDeadline, err, last, out)
		}
	})

	// Disabled: the next start removes what the addon deployed, and the
	// metrics API stops answering.
	n.Stop()
	n.Args = append(n.Args, "--disable", "metrics-server")
	n.Start()
	ctx := within(t, 30*time.Second)
	var left string
	gone, err := poll(ctx, time.Second, func() (bool, error) {
		var present []string
		if _, _, code := n.kubectlRun(nil, "get", "apiservice", apiService); code == 0 {
			present = append(present, "apiservice/"+apiService)
		}
		_, err := n.client.CoreV1().Services(metricsserver.Namespace).Get(ctx, metricsserver.ServiceName, metav1.GetOptions{})
		if err == nil {
			present = append(present, "service/"+metricsserver.ServiceName)
		} else if !apierrors.IsNotFound(err) {
			return false, err
		}
		for _, s := range n.metricsSlices(t) {
			present = append(present, "endpointslice/"+s.Name)
		}
		left = strings.Join(present, ", ")
		return len(present) == 0, nil
	})
	if !gone {
		t.Fatalf("--disable metrics-server left %s after 30 s (%v)", left, err)
	}
	if _, errOut, code := n.kubectlRun(nil, "top", "nodes"); code == 0 {
		t.Error("kubectl top nodes still answers with metrics-server disabled")
	} else {
		t.Logf("kubectl top nodes, disabled: %s", strings.TrimSpace(errOut))
	}
	addr := net.JoinHostPort(hostIPv4(t).String(), strconv.Itoa(n.Port+2))
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections with metrics-server disabled", addr)
	}
}

// waitTop runs kubectl args until its output matches want, or fails the
// test at deadline, and returns the output.
func (n *node) waitTop(deadline time.Time, want *regexp.Regexp, args ...string) string {
	n.t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var out, errOut string
	ok, _ := poll(ctx, 2*time.Second, func() (bool, error) {
		var code int
		out, errOut, code = n.kubectlRun(nil, args...)
		return code == 0 && want.MatchString(out), nil
	})
	if !ok {
		n.t.Fatalf("kubectl %s: no line matching %s by %v after start; last output:\n%s%s",
			strings.Join(args, " "), want, metricsDeadline, out, errOut)
	}
	return out
}

// metricsSlices lists the EndpointSlices of the metrics-server Service.
func (n *node) metricsSlices(t *testing.T) []discoveryv1.EndpointSlice {
	t.Helper()
	ctx := within(t, 30*time.Second)
	list, err := n.client.DiscoveryV1().EndpointSlices(metricsserver.Namespace).List(ctx,
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + metricsserver.ServiceName})
	if err != nil {
		t.Fatalf("listing the metrics-server EndpointSlices: %v", err)
	}
	return list.Items
}
