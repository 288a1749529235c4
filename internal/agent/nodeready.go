package agent

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/internal/component"
)

// nodeReady waits for this node's Ready condition: the point at which pods
// can run here, which is what the user waits for.
type nodeReady struct {
	name   string
	client func() (kubernetes.Interface, error)
}

var _ component.Component = (*nodeReady)(nil)

func (n *nodeReady) Name() string                { return "node-ready" }
func (n *nodeReady) Start(context.Context) error { return nil }
func (n *nodeReady) Stop(context.Context) error  { return nil }

func (n *nodeReady) Ready(ctx context.Context) error {
	client, err := n.client()
	if err != nil {
		return err
	}
	var last string
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		node, err := client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Status.Conditions {
				if c.Type == v1.NodeReady {
					if c.Status == v1.ConditionTrue {
						return nil
					}
					last = c.Reason + ": " + c.Message
				}
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s is not Ready (%s): %w", n.name, last, ctx.Err())
		case <-t.C:
		}
	}
}
