package servicelb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// passKey is the work queue's only key: every change asks for one pass
// over all of skiff's Services (the port accounting needs them all), and
// the queue folds a burst of changes into one pass.
const passKey = "all"

// byService indexes EndpointSlices by the namespace/name of their Service.
const byService = "service"

// Controller sets the load balancer status of skiff's LoadBalancer
// Services (see the package doc). Build it with New; it is a
// component.Component.
type Controller struct {
	client   kubernetes.Interface
	reserved map[portKey]string

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	factory informers.SharedInformerFactory
	events  record.EventBroadcaster
	queue   workqueue.TypedRateLimitingInterface[string]
	synced  chan struct{} // closed once the caches are filled
	done    chan struct{} // closed when the worker has ended

	recorder record.EventRecorder
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	slices   cache.Indexer

	// warned is the last Warning sent for each Service (by UID), so that a
	// warning is sent when it changes, not at every pass. Only the worker
	// touches it.
	warned map[types.UID]string
}

var _ component.Component = (*Controller)(nil)

// New checks cfg and returns a controller that does nothing until Start.
func New(cfg Config) (*Controller, error) {
	reserved, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	return &Controller{
		client:   cfg.Client,
		reserved: reserved,
		synced:   make(chan struct{}),
		done:     make(chan struct{}),
		warned:   map[types.UID]string{},
	}, nil
}

// Name implements component.Component.
func (c *Controller) Name() string { return "servicelb" }

// Start watches Services, Nodes and EndpointSlices and begins setting
// statuses once the caches are filled. The informers retry on their own
// while the apiserver does not answer.
func (c *Controller) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("servicelb: already started")
	}
	c.factory = informers.NewSharedInformerFactoryWithOptions(c.client, 0, informers.WithTransform(trim))
	svcInformer := c.factory.InformerFor(&corev1.Service{}, newServiceInformer)
	nodeInformer := c.factory.Core().V1().Nodes().Informer()
	sliceInformer := c.factory.Discovery().V1().EndpointSlices().Informer()
	if err := sliceInformer.AddIndexers(cache.Indexers{byService: sliceService}); err != nil {
		return fmt.Errorf("servicelb: indexing EndpointSlices: %w", err)
	}
	c.services = corelisters.NewServiceLister(svcInformer.GetIndexer())
	c.nodes = c.factory.Core().V1().Nodes().Lister()
	c.slices = sliceInformer.GetIndexer()

	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "servicelb"})
	enqueue := func() { c.queue.Add(passKey) }
	changed := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { enqueue() },
		UpdateFunc: func(oldObj, newObj any) {
			if !unchanged(oldObj, newObj) {
				enqueue()
			}
		},
		DeleteFunc: func(any) { enqueue() },
	}
	sliceChanged := cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.enqueueForSlice(obj) },
		UpdateFunc: func(oldObj, newObj any) {
			if !unchanged(oldObj, newObj) {
				c.enqueueForSlice(newObj)
			}
		},
		DeleteFunc: func(obj any) { c.enqueueForSlice(obj) },
	}
	for _, h := range []struct {
		informer cache.SharedIndexInformer
		handler  cache.ResourceEventHandler
	}{{svcInformer, changed}, {nodeInformer, changed}, {sliceInformer, sliceChanged}} {
		if _, err := h.informer.AddEventHandler(h.handler); err != nil {
			return fmt.Errorf("servicelb: watching: %w", err)
		}
	}

	ctx, c.cancel = context.WithCancel(ctx)
	c.started = true
	c.events = record.NewBroadcaster(record.WithContext(ctx))
	c.events.StartStructuredLogging(3)
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events(metav1.NamespaceAll)})
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: eventSource})

	c.factory.Start(ctx.Done())
	go c.run(ctx, svcInformer, nodeInformer, sliceInformer)
	return nil
}

// newServiceInformer watches only Services of type LoadBalancer: the
// apiserver filters, so the cache holds none of the others, and a Service
// that changes type away arrives as a delete.
func newServiceInformer(client kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
	return coreinformers.NewFilteredServiceInformer(client, metav1.NamespaceAll, resync,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) { o.FieldSelector = loadBalancerServices })
}

// sliceService is the byService index: the slice's Service as
// namespace/name.
func sliceService(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name, ok := es.Labels[discoveryv1.LabelServiceName]
	if !ok || name == "" {
		return nil, nil
	}
	return []string{es.Namespace + "/" + name}, nil
}

// enqueueForSlice asks for a pass when a slice of one of skiff's Services
// with externalTrafficPolicy Local changes: the only Services whose status
// depends on endpoints. Other slices change with every pod and are ignored.
func (c *Controller) enqueueForSlice(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	name := es.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return
	}
	svc, err := c.services.Services(es.Namespace).Get(name)
	if err != nil || !manages(svc) || !localTraffic(svc) {
		return // not one of ours (a new one's own add asks for a pass)
	}
	c.queue.Add(passKey)
}

// run waits for the caches, then works the queue until it shuts down.
func (c *Controller) run(ctx context.Context, informers ...cache.SharedIndexInformer) {
	defer close(c.done)
	var synced []cache.InformerSynced
	for _, i := range informers {
		synced = append(synced, i.HasSynced)
	}
	// No pass before every cache is full: a pass on a partial list of
	// Services could give a port to one while its holder is not listed yet.
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	close(c.synced)
	klog.V(1).InfoS("servicelb: caches filled; serving LoadBalancer Services")
	c.queue.Add(passKey)
	for c.next(ctx) {
	}
}

// next runs one pass from the queue; false once the queue is shut down.
func (c *Controller) next(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	if err := c.pass(ctx); err != nil {
		if ctx.Err() != nil {
			return false
		}
		if apierrors.IsConflict(err) {
			// Expected: a Service changed after the cache showed it, or
			// another server wrote first. The retry sees the new state.
			klog.V(2).InfoS("servicelb: a Service changed meanwhile; retrying", "err", err)
		} else {
			klog.ErrorS(err, "servicelb: setting load balancer statuses; retrying")
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// pass decides every Service's status from the caches and writes those
// that differ. A Service that cannot be written does not hold up the
// others; the errors come back together and the pass is retried.
func (c *Controller) pass(ctx context.Context) error {
	services, err := c.services.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing Services from the cache: %w", err)
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing Nodes from the cache: %w", err)
	}
	var errs []error
	seen := map[types.UID]bool{}
	for _, d := range decide(services, nodes, c.localNodes, c.reserved) {
		seen[d.Service.UID] = true
		if err := c.apply(ctx, d); err != nil {
			errs = append(errs, err)
		}
	}
	for uid := range c.warned {
		if !seen[uid] {
			delete(c.warned, uid)
		}
	}
	return errors.Join(errs...)
}

// localNodes are the nodes with a ready endpoint of svc.
func (c *Controller) localNodes(svc *corev1.Service) map[string]bool {
	objs, err := c.slices.ByIndex(byService, svc.Namespace+"/"+svc.Name)
	if err != nil {
		return nil
	}
	var eps []*discoveryv1.EndpointSlice
	for _, o := range objs {
		if es, ok := o.(*discoveryv1.EndpointSlice); ok {
			eps = append(eps, es)
		}
	}
	return readyNodes(eps)
}

// apply writes d's ingress if the Service's differs, and sends the Events
// that tell the user what happened.
func (c *Controller) apply(ctx context.Context, d decision) error {
	svc := d.Service
	have := svc.Status.LoadBalancer.Ingress
	if !ingressEqual(have, d.Ingress) {
		if err := setIngress(ctx, c.client, svc, d.Ingress); err != nil {
			return err
		}
		klog.InfoS("servicelb: set load balancer status", "service", klog.KObj(svc), "from", ingressIPs(have), "to", ingressIPs(d.Ingress))
		if len(d.Ingress) > 0 {
			c.recorder.Eventf(svc, corev1.EventTypeNormal, ReasonUpdated, "Updated LoadBalancer with new IPs: %s -> %s", ingressIPs(have), ingressIPs(d.Ingress))
		}
	}
	if d.Reason == "" {
		delete(c.warned, svc.UID)
		return nil
	}
	if last := d.Reason + ": " + d.Message; c.warned[svc.UID] != last {
		c.warned[svc.UID] = last
		c.recorder.Event(svc, corev1.EventTypeWarning, d.Reason, d.Message)
	}
	return nil
}

// Ready returns once the caches are filled.
func (c *Controller) Ready(ctx context.Context) error {
	select {
	case <-c.synced:
		return nil
	case <-c.done:
		return errors.New("servicelb: stopped before its caches were filled")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the worker, the informers and the Event broadcaster.
func (c *Controller) Stop(ctx context.Context) error {
	c.mu.Lock()
	cancel, started := c.cancel, c.started
	c.mu.Unlock()
	if !started {
		return nil
	}
	cancel()
	c.queue.ShutDown()
	stopped := make(chan struct{})
	go func() {
		<-c.done
		c.factory.Shutdown()
		c.events.Shutdown()
		close(stopped)
	}()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("servicelb: stopping: %w", ctx.Err())
	}
}
