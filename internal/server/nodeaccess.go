package server

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/join"
	"github.com/skiff-k8s/skiff/internal/overlay"
)

// nodeNameClaim records the server's own node password, as the join
// endpoints do for every agent.
type nodeNameClaim struct {
	supervisor     string
	node, password string
}

var _ component.Component = (*nodeNameClaim)(nil)

func (n *nodeNameClaim) Name() string                { return "node-name" }
func (n *nodeNameClaim) Stop(context.Context) error  { return nil }
func (n *nodeNameClaim) Ready(context.Context) error { return nil }

func (n *nodeNameClaim) Start(ctx context.Context) error {
	client, err := clientFor(n.supervisor)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return join.ClaimNodeName(ctx, client, n.node, n.password)
}

func clientFor(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", kubeconfig, err)
	}
	return kubernetes.NewForConfig(cfg)
}

// nodeRBAC grants the nodes what the pod network needs beyond the Node
// authorizer's defaults: since Kubernetes 1.34 a node may read only its own
// Node, and the overlay must see every node to route to it.
type nodeRBAC struct {
	supervisor string
}

var _ component.Component = (*nodeRBAC)(nil)

func (n *nodeRBAC) Name() string                { return "node-rbac" }
func (n *nodeRBAC) Stop(context.Context) error  { return nil }
func (n *nodeRBAC) Ready(context.Context) error { return nil }

func (n *nodeRBAC) Start(ctx context.Context) error {
	client, err := clientFor(n.supervisor)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return overlay.EnsureRBAC(ctx, client)
}
