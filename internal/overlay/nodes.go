package overlay

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Retry delays after a failed reconcile (an unreachable API server, a
// netlink error): from the first to the last, doubling.
const (
	retryMin = time.Second
	retryMax = 30 * time.Second
)

// newInformer follows all Nodes (a node's credentials may list and watch
// them) and wakes the reconcile loop when one changes in a way that
// matters to the overlay.
func (o *Overlay) newInformer() cache.Controller {
	nodes := o.cfg.Client.CoreV1().Nodes()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return nodes.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return nodes.Watch(ctx, opts)
		},
	}
	store, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		// The fake clients of tests don't speak WatchList; this says so.
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, o.cfg.Client),
		ObjectType:    &corev1.Node{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { o.wake() },
			UpdateFunc: func(oldObj, newObj any) {
				a, ok1 := oldObj.(*corev1.Node)
				b, ok2 := newObj.(*corev1.Node)
				if !ok1 || !ok2 || relevantChange(a, b) {
					o.wake()
				}
			},
			DeleteFunc: func(any) { o.wake() },
		},
	})
	o.store = store
	return informer
}

// wake asks the loop for a reconcile; many asks while one runs make one more.
func (o *Overlay) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// loop reconciles when the Nodes change, every resyncInterval, and, after
// a failure, again after a growing delay. It starts only once the informer
// holds all Nodes: a reconcile against a partial list would delete the
// routes to the nodes not listed yet.
func (o *Overlay) loop(ctx context.Context, synced func() bool) {
	if !cache.WaitForCacheSync(ctx.Done(), synced) {
		return
	}
	o.skipped, o.routed = map[string]string{}, map[string]string{}
	tick := time.NewTicker(resyncInterval)
	defer tick.Stop()
	var retry <-chan time.Time
	delay := retryMin
	for {
		err := o.reconcile(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			klog.ErrorS(err, "Setting up the pod overlay; trying again", "in", delay)
			retry = time.After(delay)
			delay = min(2*delay, retryMax)
		default:
			retry, delay = nil, retryMin
			o.mu.Lock()
			o.synced = true
			o.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-o.kick:
		case <-tick.C:
		case <-retry:
		}
	}
}

// reconcile brings the kernel and this node's annotations in line with
// the Nodes. Each step runs even when one before failed, so that one bad
// peer does not keep the others from being routed.
func (o *Overlay) reconcile(ctx context.Context) error {
	var nodes []*corev1.Node
	var self *corev1.Node
	for _, obj := range o.store.List() {
		if n, ok := obj.(*corev1.Node); ok {
			nodes = append(nodes, n)
			if n.Name == o.cfg.NodeName {
				self = n
			}
		}
	}
	v := view{backend: o.backend, self: o.cfg.NodeName, selfIP: o.nodeIP, cluster: o.cluster}
	st, skipped := desiredState(v, nodes)
	o.logChanges(st, skipped)

	var errs []error
	if self != nil {
		if err := o.annotate(ctx, self); err != nil {
			errs = append(errs, err)
		}
	}
	switch o.backend {
	case BackendVXLAN:
		// The device first, put back if someone deleted it; then for each
		// peer its FDB entry and neighbour before the route that needs
		// them.
		vx, err := o.ensureDevice()
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		if st.OwnPodCIDR != nil {
			if err := o.ensureAddress(vx, st.OwnPodCIDR); err != nil {
				errs = append(errs, err)
			}
		}
		idx := vx.Attrs().Index
		errs = append(errs, o.applyFDB(st.FDB, idx), o.applyNeighs(st.Neighs, idx), o.applyRoutes(st.Routes, idx, true))
	case BackendHostGW:
		errs = append(errs, o.applyRoutes(st.Routes, o.parent.Attrs().Index, false))
	}
	return errors.Join(errs...)
}

// annotate publishes this node's tunnel end (and VTEP MAC) in its Node's
// annotations, when they are missing or differ.
func (o *Overlay) annotate(ctx context.Context, self *corev1.Node) error {
	patch := annotationsPatch(self, ownAnnotations(o.backend, o.nodeIP, o.mac))
	if patch == nil {
		return nil
	}
	if self.ResourceVersion != "" && self.ResourceVersion == o.patchedFrom {
		// Patched already; the informer has not seen the result yet.
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := o.cfg.Client.CoreV1().Nodes().Patch(ctx, self.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotating node %s: %w", self.Name, err)
	}
	o.patchedFrom = self.ResourceVersion
	klog.InfoS("Published the node's overlay endpoint", "node", self.Name, "patch", string(patch))
	return nil
}

// logChanges logs a peer when it starts or stops being routed, or the
// reason it is not, when that changes: once, not at every resync.
func (o *Overlay) logChanges(st state, skipped map[string]string) {
	routed := map[string]string{}
	for _, p := range st.Peers {
		routed[p.Name] = p.String()
		if o.routed[p.Name] != routed[p.Name] {
			klog.InfoS("Routing a node's pods", "node", p.Name, "route", routed[p.Name])
		}
	}
	for name := range o.routed {
		if _, ok := routed[name]; !ok {
			if _, ok := skipped[name]; !ok {
				klog.InfoS("No longer routing a node's pods: the node is gone", "node", name)
			}
		}
	}
	for name, why := range skipped {
		if o.skipped[name] != why {
			klog.InfoS("Not routing a node's pods", "node", name, "reason", why)
		}
	}
	o.routed, o.skipped = routed, skipped
}

// syncedOnce says whether a reconcile succeeded since Start (for tests).
func (o *Overlay) syncedOnce() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.synced
}
