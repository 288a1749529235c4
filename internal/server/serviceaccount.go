package server

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-k8s/skiff/internal/component"
)

// defaultServiceAccount waits for the controller-manager to create the
// "default" ServiceAccount: until it exists every pod in the default
// namespace is refused, so a cluster without it is not ready for users.
type defaultServiceAccount struct {
	kubeconfig string
}

var _ component.Component = (*defaultServiceAccount)(nil)

func (d *defaultServiceAccount) Name() string                { return "default-serviceaccount" }
func (d *defaultServiceAccount) Start(context.Context) error { return nil }
func (d *defaultServiceAccount) Stop(context.Context) error  { return nil }

func (d *defaultServiceAccount) Ready(ctx context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", d.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading %s: %w", d.kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
