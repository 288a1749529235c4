package helmcontroller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// resync brings every HelmChart back through the queue now and then, so
// that a chart file replaced in the static folder, a repository's new
// version or a release removed behind the controller's back is noticed.
const resync = 5 * time.Minute

// Config is what the controller needs.
type Config struct {
	// Kubeconfig has full rights over the cluster (the supervisor's).
	Kubeconfig string
	// StaticDir is <data-dir>/server/static/charts: a chart URL
	// https://%{KUBERNETES_API}%/static/charts/<file> is read from there.
	StaticDir string
	// CacheDir holds downloaded repository indexes and charts.
	CacheDir string
	// Workers is how many charts are worked on at once; one release is
	// only ever worked on by one of them. Default 2.
	Workers int
	// OnlyRemove is --disable helm-controller: nothing is installed or
	// upgraded, but a HelmChart that this controller deployed is still
	// uninstalled when it is deleted (Traefik's, when it is disabled
	// with the controller), instead of hanging on its finalizer.
	OnlyRemove bool
	// LeaderElect is set when several servers may run: only the holder of
	// the Lease kube-system/skiff-helm-controller works on releases, so
	// two servers never run Helm on one release at once. Identity names
	// this server in it; a restarted server with the same identity takes
	// its lease back at once.
	LeaderElect bool
	Identity    string
}

// Controller reconciles HelmChart objects with the Helm SDK (see the
// package doc). Build it with New; it is a component.Component.
type Controller struct {
	cfg     Config
	rest    *rest.Config
	dynamic dynamic.Interface
	kube    kubernetes.Interface
	helm    *helmClients

	mu       sync.Mutex
	cancel   context.CancelFunc
	workers  sync.WaitGroup
	synced   chan struct{}
	factory  dynamicinformer.DynamicSharedInformerFactory
	charts   cache.GenericLister
	configs  cache.GenericLister
	queue    workqueue.TypedRateLimitingInterface[string]
	events   record.EventBroadcaster
	recorder record.EventRecorder
}

var _ component.Component = (*Controller)(nil)

// New builds the controller; nothing runs until Start.
func New(cfg Config) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("helm controller: loading %s: %w", cfg.Kubeconfig, err)
	}
	// A chart creates its objects one request at a time: client-go's
	// default 5 requests per second would make a chart of 10 objects take
	// seconds.
	restCfg.QPS, restCfg.Burst = 100, 200
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("helm controller: %w", err)
	}
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("helm controller: %w", err)
	}
	hc, err := newHelmClients(restCfg, cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	return &Controller{cfg: cfg, rest: restCfg, dynamic: dyn, kube: kube, helm: hc}, nil
}

// Name implements component.Component.
func (c *Controller) Name() string {
	if c.cfg.OnlyRemove {
		return "helm-controller (removals only)"
	}
	return "helm-controller"
}

// Start watches HelmCharts and HelmChartConfigs and starts the workers.
func (c *Controller) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return errors.New("helm controller already started")
	}
	ctx, c.cancel = context.WithCancel(ctx)
	c.synced = make(chan struct{})
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Second, 5*time.Minute),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "helmcharts"})
	c.events = record.NewBroadcaster(record.WithContext(ctx))
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.kube.CoreV1().Events("")})
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "helm-controller"})

	c.factory = dynamicinformer.NewDynamicSharedInformerFactory(c.dynamic, resync)
	charts := c.factory.ForResource(helmChartsResource)
	configs := c.factory.ForResource(helmChartConfigsResource)
	c.charts, c.configs = charts.Lister(), configs.Lister()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	if _, err := charts.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, obj any) {
			if !statusOnly(old, obj) {
				enqueue(obj)
			}
		},
		// A deleted HelmChart was uninstalled before its finalizer let
		// it go; nothing is left to do.
	}); err != nil {
		return err
	}
	// A HelmChartConfig belongs to the HelmChart of its name and namespace.
	if _, err := configs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return err
	}
	c.factory.Start(ctx.Done())
	c.workers.Go(func() {
		if !cache.WaitForCacheSync(ctx.Done(), charts.Informer().HasSynced, configs.Informer().HasSynced) {
			return
		}
		close(c.synced)
		if !c.cfg.LeaderElect {
			c.runWorkers(ctx)
			return
		}
		c.lead(ctx)
	})
	return nil
}

// runWorkers works on the queue until ctx ends.
func (c *Controller) runWorkers(ctx context.Context) {
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Go(func() { c.work(ctx) })
	}
	wg.Wait()
}

// lead runs the workers while this server holds the lease, and competes
// for it again when it loses it, until ctx ends.
func (c *Controller) lead(ctx context.Context) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "kube-system", Name: "skiff-helm-controller"},
		Client:     c.kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: c.cfg.Identity},
	}
	for ctx.Err() == nil {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   15 * time.Second,
			RenewDeadline:   10 * time.Second,
			RetryPeriod:     2 * time.Second,
			ReleaseOnCancel: true,
			Name:            "helm-controller",
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					klog.InfoS("Helm controller leading", "identity", c.cfg.Identity)
					c.runWorkers(ctx)
				},
				OnStoppedLeading: func() { klog.InfoS("Helm controller no longer leading", "identity", c.cfg.Identity) },
			},
		})
	}
}

// Ready waits until the controller has seen every HelmChart once.
func (c *Controller) Ready(ctx context.Context) error {
	select {
	case <-c.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the workers; a Helm operation under way is cancelled.
func (c *Controller) Stop(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	c.queue.ShutDown()
	c.factory.Shutdown()
	c.workers.Wait()
	c.events.Shutdown()
	return nil
}

func (c *Controller) work(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		if ctx.Err() != nil {
			// Leadership was lost while waiting: the key is the next
			// leader's (or this server's again, when it leads again).
			c.queue.Done(key)
			c.queue.Add(key)
			return
		}
		err := c.sync(ctx, key)
		switch {
		case err == nil:
			c.queue.Forget(key)
		case ctx.Err() != nil:
		default:
			klog.InfoS("HelmChart not reconciled; retrying", "helmchart", key, "err", err)
			c.queue.AddRateLimited(key)
		}
		c.queue.Done(key)
	}
}

// chart returns the HelmChart of key, or nil when it is gone. It is read
// from the API, not the informer's cache: the cache may not hold yet the
// status this controller just wrote, and a stale digest there would run
// the same release again.
func (c *Controller) chart(ctx context.Context, key string) (*unstructured.Unstructured, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, err
	}
	if _, err := c.charts.ByNamespace(ns).Get(name); err != nil {
		return nil, ignoreNotFound(err) // gone: no need to ask
	}
	u, err := c.dynamic.Resource(helmChartsResource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, ignoreNotFound(err)
	}
	return u, nil
}

// config returns the HelmChartConfig of the chart's name and namespace, or
// nil.
func (c *Controller) config(ns, name string) (*HelmChartConfig, error) {
	obj, err := c.configs.ByNamespace(ns).Get(name)
	if err != nil {
		return nil, ignoreNotFound(err)
	}
	return fromUnstructured[HelmChartConfig](obj.(*unstructured.Unstructured))
}

// statusOnly says whether an update of a HelmChart changed only its
// status (the controller's own write), which needs no work. Resyncs, with
// the same resourceVersion, do.
func statusOnly(old, obj any) bool {
	o, ok1 := old.(*unstructured.Unstructured)
	n, ok2 := obj.(*unstructured.Unstructured)
	if !ok1 || !ok2 || o.GetResourceVersion() == n.GetResourceVersion() {
		return false
	}
	return o.GetGeneration() == n.GetGeneration() && n.GetDeletionTimestamp() == nil &&
		slices.Equal(o.GetFinalizers(), n.GetFinalizers())
}

// helmLogger passes Helm's own log lines to klog at a verbosity where they
// help debugging without filling the server's log.
func helmLogger() slog.Handler {
	return slog.NewTextHandler(klogWriter{}, &slog.HandlerOptions{Level: slog.LevelInfo})
}

type klogWriter struct{}

func (klogWriter) Write(p []byte) (int, error) {
	klog.V(2).InfoS("helm", "log", string(p))
	return len(p), nil
}
