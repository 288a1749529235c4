package metricsserver

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

const (
	// retryMin and retryMax bound the back-off of a failed write.
	retryMin = time.Second
	retryMax = 30 * time.Second
	// removeTimeout bounds the deletion of the slice when the server
	// stops: a stop must stay prompt even when the apiserver is gone.
	removeTimeout = 3 * time.Second
)

// sliceKeeper keeps this server's EndpointSlice of the metrics-server
// Service as desiredSlice says, for as long as the Service exists: it is
// created once the Service is (the deploy controller applies the addon's
// manifest, perhaps after this part started), put back when someone
// deletes or edits it, and left to the garbage collector when the Service
// goes. It watches just the two objects, by name.
type sliceKeeper struct {
	client kubernetes.Interface
	name   string
	ip     net.IP
	port   int32
}

// run keeps the slice until ctx ends.
func (k *sliceKeeper) run(ctx context.Context) {
	poke := make(chan struct{}, 1)
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { nudge(poke) },
		UpdateFunc: func(any, any) { nudge(poke) },
		DeleteFunc: func(any) { nudge(poke) },
	}
	services := k.informer(k.client.CoreV1().RESTClient(), "services", ServiceName, &corev1.Service{})
	slices := k.informer(k.client.DiscoveryV1().RESTClient(), "endpointslices", k.name, &discoveryv1.EndpointSlice{})
	// The watches end with ctx, before run returns.
	var watches sync.WaitGroup
	defer watches.Wait()
	for _, inf := range []cache.SharedIndexInformer{services, slices} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			klog.ErrorS(err, "metrics-server: watching its Service and EndpointSlice")
			return
		}
		watches.Go(func() { inf.RunWithContext(ctx) })
	}
	if !cache.WaitForCacheSync(ctx.Done(), services.HasSynced, slices.HasSynced) {
		return
	}

	wait := retryMin
	for {
		var retry <-chan time.Time
		if err := k.reconcile(ctx, services.GetStore(), slices.GetStore()); err != nil {
			if ctx.Err() != nil {
				return
			}
			klog.ErrorS(err, "metrics-server: keeping its EndpointSlice; retrying", "slice", k.name, "in", wait)
			retry = time.After(wait) // collected unfired since Go 1.23
			wait = min(2*wait, retryMax)
		} else {
			wait = retryMin
		}
		select {
		case <-ctx.Done():
			return
		case <-poke:
		case <-retry:
		}
	}
}

// informer watches the one object of resource named name in Namespace.
func (k *sliceKeeper) informer(c cache.Getter, resource, name string, obj runtime.Object) cache.SharedIndexInformer {
	lw := cache.NewListWatchFromClient(c, resource, Namespace, fields.OneTermEqualSelector("metadata.name", name))
	return cache.NewSharedIndexInformer(lw, obj, 0, cache.Indexers{})
}

// reconcile makes the slice what it should be, once.
func (k *sliceKeeper) reconcile(ctx context.Context, services, slices cache.Store) error {
	obj, ok, err := services.GetByKey(Namespace + "/" + ServiceName)
	if err != nil {
		return err
	}
	if !ok {
		return nil // not deployed, or removed: the garbage collector has the slice
	}
	svc := obj.(*corev1.Service)
	if svc.DeletionTimestamp != nil {
		return nil
	}
	want := desiredSlice(k.name, svc, k.ip, k.port)
	api := k.client.DiscoveryV1().EndpointSlices(Namespace)

	obj, ok, err = slices.GetByKey(Namespace + "/" + k.name)
	if err != nil {
		return err
	}
	if !ok {
		_, err := api.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // the watch brings it; compared then
		}
		if err != nil {
			return fmt.Errorf("creating EndpointSlice %s/%s: %w", Namespace, k.name, err)
		}
		klog.InfoS("metrics-server: published its endpoint", "slice", k.name, "address", net.JoinHostPort(k.ip.String(), fmt.Sprint(k.port)))
		return nil
	}
	have := obj.(*discoveryv1.EndpointSlice)
	switch {
	case have.DeletionTimestamp != nil:
		return nil // created anew once the deletion is seen
	case sliceUpToDate(have, want):
		return nil
	case mustReplace(have, want):
		uid := have.UID
		err := api.Delete(ctx, k.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("replacing EndpointSlice %s/%s of address type %s: %w", Namespace, k.name, have.AddressType, err)
		}
		return nil
	}
	if _, err := api.Update(ctx, updatedSlice(have, want), metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating EndpointSlice %s/%s: %w", Namespace, k.name, err)
	}
	klog.InfoS("metrics-server: updated its endpoint", "slice", k.name, "address", net.JoinHostPort(k.ip.String(), fmt.Sprint(k.port)))
	return nil
}

// remove deletes the slice, so that the aggregator stops sending requests
// to a server that stopped; another server's slice, or this one's at the
// next start, takes over. Best effort: a server that crashed leaves its
// slice until it starts again.
func (k *sliceKeeper) remove(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, removeTimeout)
	defer cancel()
	err := k.client.DiscoveryV1().EndpointSlices(Namespace).Delete(ctx, k.name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		klog.InfoS("metrics-server: could not withdraw its endpoint; the aggregator may try this server until it starts again",
			"slice", k.name, "err", err)
	}
}

// nudge asks for a reconcile without blocking: one pending ask is enough.
func nudge(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
