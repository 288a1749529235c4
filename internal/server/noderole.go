package server

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/skiff-k8s/skiff/internal/component"
)

// ControlPlaneLabel marks a server's node, so that `kubectl get nodes`
// shows ROLES control-plane as on k3s. The kubelet may not set
// node-role.kubernetes.io labels on itself (the NodeRestriction admission
// refuses them), so the server sets it with its own credentials.
const ControlPlaneLabel = "node-role.kubernetes.io/control-plane"

// nodeRole labels the server's own node once it is registered; it comes
// after the node is Ready, so the Node object exists.
type nodeRole struct {
	supervisor string
	node       string
}

var _ component.Component = (*nodeRole)(nil)

func (n *nodeRole) Name() string                { return "node-role" }
func (n *nodeRole) Start(context.Context) error { return nil }
func (n *nodeRole) Stop(context.Context) error  { return nil }

func (n *nodeRole) Ready(ctx context.Context) error {
	client, err := clientFor(n.supervisor)
	if err != nil {
		return err
	}
	patch := []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:"true"}}}`, ControlPlaneLabel))
	var last error
	// A few quick tries: the apiserver may still be settling right after
	// the node registered, but nothing here should hold up start for long.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = client.CoreV1().Nodes().Patch(ctx, n.node, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "skiff"})
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("labelling node %s %s: %w (last: %v)", n.node, ControlPlaneLabel, err, last)
	}
	return nil
}
