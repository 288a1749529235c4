package control

import (
	"context"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// otherLeads tells whether another server's controller-manager holds its
// leader lease now. Such a server builds the controllers; this one builds
// them only if it takes the lease over, so the kubelet beside it must not
// wait for that (see ControllersBuilt).
func otherLeads(ctx context.Context, kubeconfig string) bool {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return false
	}
	cfg.Timeout = 2 * time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return false
	}
	lease, err := client.CoordinationV1().Leases(metav1.NamespaceSystem).Get(ctx, "kube-controller-manager", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || lease.Spec.RenewTime == nil || lease.Spec.LeaseDurationSeconds == nil {
		return false
	}
	holder := *lease.Spec.HolderIdentity
	// Upstream's identity is the host name, "_", a UUID of the process.
	if host, err := os.Hostname(); err != nil || holder == "" || strings.HasPrefix(holder, host+"_") {
		return false
	}
	fresh := time.Since(lease.Spec.RenewTime.Time) < time.Duration(*lease.Spec.LeaseDurationSeconds)*time.Second
	if fresh {
		klog.InfoS("Another server's controller-manager leads; this server's node starts without waiting for controllers it does not run", "leader", holder)
	}
	return fresh
}
