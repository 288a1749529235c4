package clusterdns

import (
	"context"
	"errors"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// Names of what the coredns addon deploys and this part maintains.
const (
	// ConfigMapName holds the Corefile and NodeHosts.
	ConfigMapName = "coredns"
	// CustomConfigMapName is the users' hook: *.override and *.server keys.
	CustomConfigMapName = "coredns-custom"
	// NodeHostsKey is the key of ConfigMapName this part writes.
	NodeHostsKey = "NodeHosts"
	// FieldManager owns NodeHostsKey; the deploy controller's "skiff" owns
	// the rest of the ConfigMap.
	FieldManager = "skiff-nodehosts"
	// PodFieldManager owns HashAnnotation on CoreDNS's pods.
	PodFieldManager = "skiff-clusterdns"
	// HashAnnotation is set on CoreDNS's pods to the hash of both
	// ConfigMaps, so that their kubelets rewrite the pods' volumes.
	HashAnnotation = "skiff.io/dns-config-hash"
	// PodSelector selects CoreDNS's pods (the kube-dns Service's selector).
	PodSelector = "k8s-app=kube-dns"
)

// settle is how long a change must rest before pods are nudged: the
// kubelets watch the ConfigMaps themselves and should have the new
// content when they sync, and a burst of edits makes one nudge.
const settle = time.Second

// Retry bounds after a pass failed (the apiserver was unavailable).
const (
	retryMin = time.Second
	retryMax = 30 * time.Second
)

// Config says what the part works on.
type Config struct {
	// Client talks to the apiserver with rights to read nodes, and to read
	// and patch ConfigMaps and pods in Namespace (the server's supervisor
	// credentials). Required.
	Client kubernetes.Interface
	// Namespace holds CoreDNS's ConfigMaps and pods; default kube-system.
	Namespace string
}

// Controller is the part. Build it with New.
type Controller struct {
	cfg Config

	informers []cache.SharedIndexInformer
	nodes     cache.SharedIndexInformer
	configs   cache.SharedIndexInformer
	pods      cache.SharedIndexInformer

	kick   chan struct{} // a change to look at; capacity 1, so changes coalesce
	synced chan struct{} // closed once the caches are filled
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ component.Component = (*Controller)(nil)

// New checks cfg and returns the part; it watches once started.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil {
		return nil, errors.New("cluster DNS: no API client")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = metav1.NamespaceSystem
	}
	c := &Controller{
		cfg:    cfg,
		kick:   make(chan struct{}, 1),
		synced: make(chan struct{}),
		cancel: func() {},
	}
	if err := c.newInformers(); err != nil {
		return nil, err
	}
	return c, nil
}

// Name implements component.Component.
func (c *Controller) Name() string { return "cluster-dns" }

// Start begins watching nodes, CoreDNS's ConfigMaps and its pods.
func (c *Controller) Start(ctx context.Context) error {
	ctx, c.cancel = context.WithCancel(ctx)
	for _, inf := range c.informers {
		c.wg.Go(func() { inf.RunWithContext(ctx) })
	}
	c.wg.Go(func() { c.loop(ctx) })
	return nil
}

// Ready waits until the caches are filled; CoreDNS need not be deployed.
func (c *Controller) Ready(ctx context.Context) error {
	select {
	case <-c.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the watches and waits for a pass under way.
func (c *Controller) Stop(ctx context.Context) error {
	c.cancel()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// changed asks for a pass.
func (c *Controller) changed() {
	select {
	case c.kick <- struct{}{}:
	default: // one is pending already
	}
}

// loop runs a pass after each change has settled, and again with back-off
// while passes fail.
func (c *Controller) loop(ctx context.Context) {
	syncs := make([]cache.InformerSynced, 0, len(c.informers))
	for _, inf := range c.informers {
		syncs = append(syncs, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return
	}
	close(c.synced)
	c.changed() // the first pass, whatever the informers said before

	retry := retryMin
	var retryC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-retryC:
		}
		// Let the change settle; what arrives meanwhile joins this pass.
		select {
		case <-ctx.Done():
			return
		case <-time.After(settle):
		}
		select {
		case <-c.kick:
		default:
		}
		if err := c.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			klog.ErrorS(err, "Cluster DNS: retrying", "in", retry)
			retryC = time.After(retry)
			retry = min(2*retry, retryMax)
			continue
		}
		retry, retryC = retryMin, nil
	}
}
