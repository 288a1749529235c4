package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// DefaultInterval is how often the manifests folder is looked at: a file
// dropped there is applied about this long after, at most, plus the
// apply.
const DefaultInterval = 2 * time.Second

// Client rate of the controller, when the given config sets none. A first
// pass applies tens of objects (and writes their inventories); at
// client-go's default of 5 requests a second that alone took seconds,
// against a loopback apiserver in the same process.
const (
	defaultQPS   = 50
	defaultBurst = 100
)

// crdTimeout bounds the wait for the CRDs of a pass to be served before
// their custom resources are applied; past it they are applied anyway,
// and those refused are tried again with the file's back-off.
const crdTimeout = 30 * time.Second

// Config says which folder to follow and how to reach the API.
type Config struct {
	// Dir is the manifests folder, <data-dir>/server/manifests. It is
	// created (mode 0700) at Start if missing, so that users find where
	// files go. Required.
	Dir string
	// RESTConfig reaches the apiserver with full rights (the supervisor's
	// loopback kubeconfig): a manifest may hold any kind, RBAC and CRDs
	// included. Required. It is copied; a zero QPS becomes 50 (burst
	// 100), not client-go's 5, which held a first pass back for seconds.
	RESTConfig *rest.Config
	// Interval is how often the folder's stat is read (a few stat calls;
	// only files whose stat changed are read and hashed). Zero means
	// DefaultInterval, 2 s, which keeps a new file within the 5 s that
	// users are promised.
	Interval time.Duration
	// Namespace holds the inventory ConfigMaps and the Events reported on
	// them; it must exist before Start. Empty means kube-system, where
	// users of k3s look for them.
	Namespace string
}

// Controller is the deploy controller. Build it with New; it is a
// component.Component whose Ready returns once the first pass over every
// file has ended, applied or reported.
type Controller struct {
	dir      string
	interval time.Duration
	k        *cluster
	report   *reporter

	// Owned by the goroutine of run.
	files   map[string]*manifest // manifests on disk, not skipped
	records map[string]*record   // inventories, by file path
	tree    tree                 // the last scan
	scanErr string               // the last scan error logged

	mu        sync.Mutex
	started   bool
	stopped   bool
	cancel    context.CancelFunc
	firstPass chan struct{} // closed once the first pass has ended
	done      chan struct{} // closed once run has returned
}

var _ component.Component = (*Controller)(nil)

// New checks cfg and builds the controller's clients; nothing is
// contacted until Start.
func New(cfg Config) (*Controller, error) {
	if cfg.Dir == "" {
		return nil, errors.New("deploy controller: no manifests folder given")
	}
	if cfg.RESTConfig == nil {
		return nil, errors.New("deploy controller: no API client configuration given")
	}
	rc := rest.CopyConfig(cfg.RESTConfig)
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = defaultQPS, defaultBurst
	}
	rc.UserAgent = rest.DefaultKubernetesUserAgent() + " " + eventSource
	ns := cfg.Namespace
	if ns == "" {
		ns = metav1.NamespaceSystem
	}
	interval := cfg.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	k, err := newCluster(rc, ns)
	if err != nil {
		return nil, fmt.Errorf("deploy controller: %w", err)
	}
	return &Controller{
		dir:       cfg.Dir,
		interval:  interval,
		k:         k,
		files:     map[string]*manifest{},
		records:   map[string]*record{},
		firstPass: make(chan struct{}),
		done:      make(chan struct{}),
	}, nil
}

// Name implements component.Component.
func (c *Controller) Name() string { return "deploy-controller" }

// Start creates the folder if need be and begins following it, until Stop
// or the end of ctx.
func (c *Controller) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || c.stopped {
		return errors.New("the deploy controller was started or stopped before")
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("creating the manifests folder: %w; check that the data dir can be written", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	c.started, c.cancel = true, cancel
	c.report = newReporter(c.dir, c.k.core) // its goroutines end with run
	go c.run(ctx)
	return nil
}

// Ready returns once the first pass over every file has ended: what could
// be applied is, and what could not is reported.
func (c *Controller) Ready(ctx context.Context) error {
	select {
	case <-c.firstPass:
		return nil
	case <-c.done:
		select {
		case <-c.firstPass:
			return nil
		default:
			return errors.New("stopped before the manifests were applied")
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the loop, cancelling the requests under way, and waits for it
// within ctx.
func (c *Controller) Stop(ctx context.Context) error {
	c.mu.Lock()
	c.stopped = true
	started, cancel := c.started, c.cancel
	c.mu.Unlock()
	if !started {
		return nil
	}
	cancel()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the deploy controller to stop: %w", ctx.Err())
	}
}

// run loads the inventories, makes the first pass, then looks at the
// folder every interval.
func (c *Controller) run(ctx context.Context) {
	defer close(c.done)
	defer c.report.stop()
	if !c.loadRecords(ctx) {
		return
	}
	c.sync(ctx, true)
	if ctx.Err() != nil {
		return // stopped during the first pass: not ready
	}
	close(c.firstPass)
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.sync(ctx, false)
		}
	}
}

// Pacing of loadRecords: the API is up when the controller starts, so a
// failure is brief; it is logged at once and then every recordsLogEvery.
const (
	recordsRetry    = time.Second
	recordsLogEvery = 30 * time.Second
)

// loadRecords reads the inventories, trying until it can or ctx ends: the
// first pass must know what earlier runs deployed to prune the files that
// went away meanwhile. It returns false when ctx ended.
func (c *Controller) loadRecords(ctx context.Context) bool {
	var lastLog time.Time
	for {
		recs, err := c.k.records(ctx)
		if err == nil {
			c.records = recs
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if time.Since(lastLog) >= recordsLogEvery {
			klog.ErrorS(err, "Deploy controller waiting for the API", "retry", recordsRetry)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(recordsRetry):
		}
	}
}
