package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testDisableHelmController restarts the node, whose Traefik answers,
// with --disable helm-controller alone: Traefik goes with it (its
// manifest removed, its HelmCharts deleted and their releases uninstalled
// by the controller that now only removes), port 80 closes, and a new
// HelmChart is accepted but not installed.
func testDisableHelmController(t *testing.T, n *node, base []string) {
	nodeIP := n.internalIP()
	if refused(nodeIP, 80) == nil {
		t.Fatalf("before the restart nothing accepts connections on %s:80; the test needs Traefik answering there to see it go", nodeIP)
	}
	n.Stop()
	n.Args = append(slices.Clone(base), "--disable", "helm-controller")
	n.Start()

	manifest := filepath.Join(n.DataDir, "server", "manifests", "traefik.yaml")
	if _, err := os.Stat(manifest); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is there with --disable helm-controller (%v); disabling the controller disables Traefik", manifest, err)
	}
	for _, name := range []string{"traefik", "traefik-crd"} {
		n.waitHelmChartGone(helmNS, name, helmTimeout)
	}
	ctx := within(t, 60*time.Second)
	ok, _ := poll(ctx, 500*time.Millisecond, func() (bool, error) {
		_, err := n.client.AppsV1().Deployments(helmNS).Get(ctx, "traefik", metav1.GetOptions{})
		return apierrors.IsNotFound(err) && refused(nodeIP, 80) == nil && refused(nodeIP, 443) == nil, nil
	})
	if !ok {
		t.Errorf("Traefik's Deployment or ports 80/443 on %s still there 60 s after its HelmChart went: %v, %v\n%s", nodeIP, refused(nodeIP, 80), refused(nodeIP, 443), n.describePods(helmNS))
	}

	// The kinds are still served; nothing installs.
	n.apply(helmChartYAML(t, helmNS, "e2e-idle", map[string]any{
		"chartContent": b64(configChart("e2e-idle", "0.1.0").pack(t, "e2e-idle")), "targetNamespace": "default",
	}))
	time.Sleep(5 * time.Second) // the controller took seconds to remove Traefik; this would be as quick
	hc, err := n.getHelmChart(context.Background(), helmNS, "e2e-idle")
	if err != nil || hc == nil {
		t.Fatalf("reading HelmChart e2e-idle: %v", err)
	}
	if hc.Status.Release != nil || len(hc.Status.Conditions) > 0 || slices.Contains(hc.Finalizers, finalizer) {
		t.Errorf("with --disable helm-controller, a new HelmChart was taken on: finalizers %v, status %+v", hc.Finalizers, hc.Status)
	}
	if _, err := n.client.CoreV1().ConfigMaps("default").Get(context.Background(), "e2e-idle", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("with --disable helm-controller, a new HelmChart's ConfigMap is there (%v)", err)
	}
}

// testDisableTraefik restarts with --disable traefik alone: the
// controller is back and installs what waited, and Traefik stays out:
// no manifest, no HelmChart, nothing on the node's port 80.
func testDisableTraefik(t *testing.T, n *node, base []string) {
	n.Stop()
	n.Args = append(slices.Clone(base), "--disable", "traefik")
	n.Start()
	nodeIP := n.internalIP()
	begin := time.Now()

	hc := n.waitHelmChart(helmNS, "e2e-idle", helmTimeout, "deployed once the controller is back", deployedAt(1))
	checkRelease(t, hc, "e2e-idle", "default", "e2e-idle", "0.1.0", "", 1)

	manifest := filepath.Join(n.DataDir, "server", "manifests", "traefik.yaml")
	if _, err := os.Stat(manifest); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is there with --disable traefik (%v)", manifest, err)
	}
	// As long as Traefik took to answer at a default start, and then some.
	for time.Since(begin) < 30*time.Second {
		for _, name := range []string{"traefik", "traefik-crd"} {
			if hc, err := n.getHelmChart(context.Background(), helmNS, name); hc != nil || err != nil {
				t.Fatalf("with --disable traefik, HelmChart %s/%s is there (%v)", helmNS, name, err)
			}
		}
		for _, port := range []int{80, 443} {
			if err := refused(nodeIP, port); err != nil {
				t.Fatalf("with --disable traefik, %v", err)
			}
		}
		time.Sleep(time.Second)
	}
	n.kubectl("delete", "helmchart", "-n", helmNS, "e2e-idle", "--wait=false")
	n.waitHelmChartGone(helmNS, "e2e-idle", helmTimeout)
	n.waitConfigMapGone("default", "e2e-idle", 30*time.Second)
}

// refused is nil when a TCP connection to ip:port fails, and an error
// saying so when something accepts it.
func refused(ip string, port int) error {
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("something accepts connections on %s", addr)
}
