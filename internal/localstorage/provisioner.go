package localstorage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// ProvisionerName is the provisioner of the StorageClasses this part
// serves: local-path-provisioner's, which k3s ships, so that manifests
// written for k3s (storageClassName: local-path, or their own class with
// this provisioner) work unchanged.
const ProvisionerName = "rancher.io/local-path"

// skiff's own keys on the PersistentVolumes it makes.
const (
	// LabelNode names the node whose disk holds the volume. It is a label
	// so that each node watches only its own volumes.
	LabelNode = "skiff.io/local-storage-node"
	// AnnotationPath is the volume's directory on that node, for people;
	// the provisioner itself trusts neither it nor the hostPath without
	// checking (checkVolumePath).
	AnnotationPath = "skiff.io/local-storage-path"
)

// ClusterRoleName is the ClusterRole (and ClusterRoleBinding) of the
// local-storage addon's manifest that grants the nodes what local storage
// needs; errors name it.
const ClusterRoleName = "skiff:local-storage"

// EventComponent is the source of the Events on claims and volumes.
const EventComponent = "skiff-local-storage"

// Retry delays for a claim or volume whose work failed (the API server
// away, a full disk): from the first to the last, doubling.
const (
	retryMin = 500 * time.Millisecond
	retryMax = 2 * time.Minute
)

// Config is what a node's local storage needs.
type Config struct {
	// Client talks to the API server with the node's own credentials
	// (system:node:<name>, group system:nodes). The Node authorizer does
	// not let a node list claims or create volumes; the ClusterRole
	// skiff:local-storage of the local-storage addon grants it (see the
	// package documentation). Required.
	Client kubernetes.Interface
	// NodeName is this node's name: the claims the scheduler placed here
	// are this node's to provision, and its volumes are pinned here.
	// Required; at most 63 characters, since it is a label value (the
	// kubelet's kubernetes.io/hostname label has the same limit).
	NodeName string
	// Path is the base directory of this node's volumes, an absolute path:
	// <data-dir>/storage unless the user set --default-local-storage-path.
	// It is created (mode BaseMode) at Start if missing. Required.
	Path string
}

// Provisioner makes and removes this node's local volumes. Build it with
// New; it is a component.Component.
type Provisioner struct {
	cfg  Config
	base string // cfg.Path, cleaned

	claims  cache.SharedIndexInformer // every claim in the cluster
	volumes cache.SharedIndexInformer // this node's volumes only
	classes cache.SharedIndexInformer
	queue   workqueue.TypedRateLimitingInterface[key]

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	// reported holds, per claim or volume UID, the refusal last reported
	// in an Event, so that each update of a refused claim does not repeat
	// it; an entry goes with its object.
	reportedMu sync.Mutex
	reported   map[string]string

	settleOnce sync.Once
	settled    chan struct{} // closed once the caches synced, or the API refused
	access     accessLog

	cancel context.CancelFunc
	done   chan struct{}
}

var _ component.Component = (*Provisioner)(nil)

// New checks cfg; nothing is created or watched before Start.
func New(cfg Config) (*Provisioner, error) {
	if cfg.Client == nil {
		return nil, errors.New("local storage: no API client")
	}
	if cfg.NodeName == "" {
		return nil, errors.New("local storage: no node name")
	}
	if errs := validation.IsValidLabelValue(cfg.NodeName); len(errs) > 0 {
		return nil, fmt.Errorf("local storage: node name %q cannot label its volumes: %s; choose a shorter --node-name", cfg.NodeName, strings.Join(errs, "; "))
	}
	if !filepath.IsAbs(cfg.Path) {
		return nil, fmt.Errorf("local storage: path %q is not absolute; give --default-local-storage-path an absolute path", cfg.Path)
	}
	return &Provisioner{
		cfg:      cfg,
		base:     filepath.Clean(cfg.Path),
		reported: map[string]string{},
		settled:  make(chan struct{}),
	}, nil
}

// Name implements component.Component.
func (p *Provisioner) Name() string { return "local-storage" }

// Start creates the base directory, then follows claims, this node's
// volumes and the storage classes in the background.
func (p *Provisioner) Start(ctx context.Context) error {
	if p.cancel != nil {
		return errors.New("local storage: already started")
	}
	if err := ensureBase(p.base); err != nil {
		return err
	}
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})

	p.broadcaster = record.NewBroadcaster(record.WithContext(ctx))
	p.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: p.cfg.Client.CoreV1().Events("")})
	p.recorder = p.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: EventComponent, Host: p.cfg.NodeName})

	p.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[key](retryMin, retryMax),
		workqueue.TypedRateLimitingQueueConfig[key]{Name: "local-storage"},
	)
	if err := p.newInformers(); err != nil {
		p.cancel()
		p.broadcaster.Shutdown()
		return err
	}
	klog.InfoS("Starting local storage", "node", p.cfg.NodeName, "path", p.base, "provisioner", ProvisionerName)
	go p.run(ctx)
	return nil
}

// run runs the informers and, once they hold everything, the worker. No
// claim is acted on before: a volume that exists but is not in the cache
// yet would be made a second time (harmlessly, but noisily).
func (p *Provisioner) run(ctx context.Context) {
	defer close(p.done)
	var wg sync.WaitGroup
	for _, inf := range []cache.SharedIndexInformer{p.claims, p.volumes, p.classes} {
		wg.Add(1)
		go func() { defer wg.Done(); inf.RunWithContext(ctx) }()
	}
	defer wg.Wait()
	defer p.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), p.claims.HasSynced, p.volumes.HasSynced, p.classes.HasSynced) {
		return
	}
	p.access.granted()
	p.settle()
	klog.InfoS("Local storage is serving claims", "node", p.cfg.NodeName, "provisioner", ProvisionerName)
	go func() {
		<-ctx.Done()
		p.queue.ShutDown()
	}()
	for p.next(ctx) {
	}
}

// next handles one queued claim or volume; false once the queue shut down.
func (p *Provisioner) next(ctx context.Context) bool {
	k, shutdown := p.queue.Get()
	if shutdown {
		return false
	}
	defer p.queue.Done(k)
	if err := p.sync(ctx, k); err != nil {
		if ctx.Err() != nil {
			return true
		}
		klog.ErrorS(err, "Local storage: will try again", "item", k.String(), "retries", p.queue.NumRequeues(k))
		p.queue.AddRateLimited(k)
		return true
	}
	p.queue.Forget(k)
	return true
}

// settle lets Ready return.
func (p *Provisioner) settle() { p.settleOnce.Do(func() { close(p.settled) }) }

// Ready returns once the caches hold every claim, volume and class — or
// as soon as the API server refused to list them: the RBAC comes with the
// local-storage addon, which the deploy controller may apply a moment
// after this node starts, or never (--disable local-storage). Holding up
// the node for it would hold up its kubelet; the informers go on trying,
// and serve claims from the moment the rights are there.
func (p *Provisioner) Ready(ctx context.Context) error {
	select {
	case <-p.settled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the informers and the worker, waiting for a claim or volume
// being handled, and flushes no further Events. Volumes and directories
// stay as they are.
func (p *Provisioner) Stop(ctx context.Context) error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	defer p.broadcaster.Shutdown()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
