package etcd

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// ControlPlaneLabel marks a server's Node (set by internal/server).
const ControlPlaneLabel = "node-role.kubernetes.io/control-plane"

// Reaper removes the etcd member of a server whose Node is deleted, the
// way to take a server out of the cluster for good (as in k3s). It runs
// on every server: removing a member twice is harmless, and so a deletion
// is acted on while any server runs.
type Reaper struct {
	Client kubernetes.Interface
	Etcd   *Etcd

	cancel context.CancelFunc
	done   chan struct{}
}

var _ component.Component = (*Reaper)(nil)

func (r *Reaper) Name() string { return "etcd-member-reaper" }

func (r *Reaper) Start(ctx context.Context) error {
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	f := informers.NewSharedInformerFactoryWithOptions(r.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = ControlPlaneLabel }))
	inf := f.Core().V1().Nodes().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				go r.remove(ctx, n.Name)
			}
		},
	}); err != nil {
		return err
	}
	go func() {
		defer close(r.done)
		inf.Run(ctx.Done())
	}()
	return nil
}

// remove retries for a while: right after a server is lost the cluster
// may be electing a leader.
func (r *Reaper) remove(ctx context.Context, name string) {
	for i := 0; i < 30; i++ {
		err := r.Etcd.RemoveByName(ctx, name)
		if err == nil {
			klog.InfoS("The Node of a server was deleted; its etcd member is removed", "node", name)
			return
		}
		klog.InfoS("Removing the etcd member of a deleted Node", "node", name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (r *Reaper) Ready(context.Context) error { return nil }

func (r *Reaper) Stop(ctx context.Context) error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
	}
	return nil
}
