package benchutil

import (
	"context"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// WaitClient waits for the admin kubeconfig at path and a client from it,
// with a rate limit high enough not to throttle a bench.
func WaitClient(ctx context.Context, path string) (kubernetes.Interface, error) {
	for {
		if _, err := os.Stat(path); err == nil {
			if cfg, err := clientcmd.BuildConfigFromFlags("", path); err == nil {
				cfg.QPS, cfg.Burst = 500, 1000
				return kubernetes.NewForConfig(cfg)
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitNodeReady polls until the Node name is Ready; seen, if not nil, is
// called each time the Node is found at all.
func WaitNodeReady(ctx context.Context, c kubernetes.Interface, name string, seen func()) error {
	for {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if seen != nil {
				seen()
			}
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
