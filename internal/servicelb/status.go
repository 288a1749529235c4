package servicelb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// statusPatch is a JSON merge patch that sets a Service's
// status.loadBalancer.ingress (removes it when ingress is empty). It
// carries the resourceVersion the decision was made from: the apiserver
// refuses it with a conflict if the Service changed since, so a controller
// with a stale cache (another server's, or this one's a moment ago) retries
// on fresh data instead of overwriting.
func statusPatch(resourceVersion string, ingress []corev1.LoadBalancerIngress) ([]byte, error) {
	var ing any // JSON null removes the list
	if len(ingress) > 0 {
		ing = ingress
	}
	return json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": resourceVersion},
		"status":   map[string]any{"loadBalancer": map[string]any{"ingress": ing}},
	})
}

// setIngress writes svc's ingress through the status subresource.
func setIngress(ctx context.Context, client kubernetes.Interface, svc *corev1.Service, ingress []corev1.LoadBalancerIngress) error {
	patch, err := statusPatch(svc.ResourceVersion, ingress)
	if err != nil {
		return fmt.Errorf("setting the load balancer status of Service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	_, err = client.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: FieldManager}, "status")
	if err != nil {
		return fmt.Errorf("setting the load balancer status of Service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}

// ingressEqual says whether the ingress a Service has is the one decided.
// nil and empty are equal.
func ingressEqual(have, want []corev1.LoadBalancerIngress) bool {
	return equality.Semantic.DeepEqual(have, want)
}

// ingressIPs lists an ingress for an Event: its IPs (or host names).
func ingressIPs(ingress []corev1.LoadBalancerIngress) string {
	var out []string
	for _, ing := range ingress {
		if ing.IP != "" {
			out = append(out, ing.IP)
		} else {
			out = append(out, ing.Hostname)
		}
	}
	return "[" + strings.Join(out, " ") + "]"
}

// setBySkiff says whether svc's ingress is what the controller would have
// set: svc is skiff's (see manages) and every ingress entry is an IP that
// some node has (nodeIPs), with no host name and a VIP (or unset) ipMode.
// ClearStatus removes only such an ingress, so an address another
// controller gave the Service survives.
func setBySkiff(svc *corev1.Service, nodeIPs map[string]bool) bool {
	if !manages(svc) || len(svc.Status.LoadBalancer.Ingress) == 0 {
		return false
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.Hostname != "" || !nodeIPs[canonicalIP(ing.IP)] {
			return false
		}
		if ing.IPMode != nil && *ing.IPMode != corev1.LoadBalancerIPModeVIP {
			return false
		}
	}
	return true
}

// allNodeIPs are every InternalIP and ExternalIP of nodes.
func allNodeIPs(nodes []corev1.Node) map[string]bool {
	out := map[string]bool{}
	for _, n := range nodes {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
				if ip := canonicalIP(a.Address); ip != "" {
					out[ip] = true
				}
			}
		}
	}
	return out
}

// canonicalIP is ip in one spelling (IPv6 has many), or "" if it is not an
// IP.
func canonicalIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	return a.Unmap().String()
}
