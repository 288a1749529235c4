package localstorage

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	storageinformers "k8s.io/client-go/informers/storage/v1"
	"k8s.io/client-go/tools/cache"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"
)

// What the worker does with a queued item.
type op int

const (
	opClaim      op = iota // provision the claim, or refuse it
	opVolume               // remove the released volume
	opVolumeGone           // a volume vanished: remove its directory
	opClaimGone            // a claim vanished: remove its directory if empty
)

// key is one item of the queue: a claim (namespace, name), a volume
// (name), or what is left of a deleted one (with its directory, which
// cannot be read from the cache any more).
type key struct {
	op        op
	namespace string
	name      string
	uid       string
	path      string
}

func (k key) String() string {
	switch k.op {
	case opClaim:
		return "claim " + k.namespace + "/" + k.name
	case opVolume:
		return "volume " + k.name
	case opVolumeGone:
		return "deleted volume " + k.name
	default:
		return "deleted claim " + k.namespace + "/" + k.name
	}
}

// newInformers builds the three informers and their handlers. Each keeps
// little: no managed fields, and the volume informer only this node's
// volumes (selected by label on the server).
func (p *Provisioner) newInformers() error {
	client := p.cfg.Client
	p.claims = coreinformers.NewPersistentVolumeClaimInformer(client, metav1.NamespaceAll, 0, cache.Indexers{})
	p.volumes = coreinformers.NewFilteredPersistentVolumeInformer(client, 0, cache.Indexers{}, func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{LabelNode: p.cfg.NodeName}.String()
	})
	p.classes = storageinformers.NewStorageClassInformer(client, 0, cache.Indexers{})

	for what, inf := range map[string]cache.SharedIndexInformer{
		"PersistentVolumeClaims": p.claims,
		"PersistentVolumes":      p.volumes,
		"StorageClasses":         p.classes,
	} {
		if err := inf.SetTransform(trim); err != nil {
			return fmt.Errorf("local storage: %s informer: %w", what, err)
		}
		if err := inf.SetWatchErrorHandlerWithContext(p.watchError(what)); err != nil {
			return fmt.Errorf("local storage: %s informer: %w", what, err)
		}
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{p.claims, cache.ResourceEventHandlerFuncs{
			AddFunc:    p.claimChanged,
			UpdateFunc: func(_, obj any) { p.claimChanged(obj) },
			DeleteFunc: p.claimDeleted,
		}},
		{p.volumes, cache.ResourceEventHandlerFuncs{
			AddFunc:    p.volumeChanged,
			UpdateFunc: func(_, obj any) { p.volumeChanged(obj) },
			DeleteFunc: p.volumeDeleted,
		}},
		{p.classes, cache.ResourceEventHandlerFuncs{
			AddFunc:    p.classChanged,
			UpdateFunc: func(_, obj any) { p.classChanged(obj) },
		}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return fmt.Errorf("local storage: adding an informer handler: %w", err)
		}
	}
	return nil
}

func (p *Provisioner) claimChanged(obj any) {
	if c, ok := obj.(*corev1.PersistentVolumeClaim); ok && forThisNode(p.cfg.NodeName, c) {
		p.queue.Add(key{op: opClaim, namespace: c.Namespace, name: c.Name})
	}
}

// claimDeleted queues a clean-up of the claim's directory when the claim
// was placed on this node: if provisioning failed after the directory was
// made, nothing else would remove it.
func (p *Provisioner) claimDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	c, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || c.Annotations[storagehelpers.AnnSelectedNode] != p.cfg.NodeName {
		return
	}
	p.queue.Add(key{op: opClaimGone, namespace: c.Namespace, name: c.Name, uid: string(c.UID)})
}

func (p *Provisioner) volumeChanged(obj any) {
	if pv, ok := obj.(*corev1.PersistentVolume); ok && ours(p.cfg.NodeName, pv) && pv.Status.Phase == corev1.VolumeReleased {
		p.queue.Add(key{op: opVolume, name: pv.Name})
	}
}

// volumeDeleted queues the removal of a deleted volume's directory (see
// removeOnDelete): someone deleted the PersistentVolume before it was
// released and removed by us.
func (p *Provisioner) volumeDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if pv, ok := obj.(*corev1.PersistentVolume); ok && removeOnDelete(p.cfg.NodeName, pv) {
		p.queue.Add(key{op: opVolumeGone, name: pv.Name, uid: string(pv.UID), path: pv.Spec.HostPath.Path})
	}
}

// classChanged queues this node's waiting claims of a class that just
// appeared or changed: a claim can come before its class is cached.
func (p *Provisioner) classChanged(obj any) {
	class, ok := obj.(*storagev1.StorageClass)
	if !ok || class.Provisioner != ProvisionerName {
		return
	}
	for _, o := range p.claims.GetStore().List() {
		if c, ok := o.(*corev1.PersistentVolumeClaim); ok && forThisNode(p.cfg.NodeName, c) &&
			storagehelpers.GetPersistentVolumeClaimClass(c) == class.Name {
			p.queue.Add(key{op: opClaim, namespace: c.Namespace, name: c.Name})
		}
	}
}

// trim drops what the provisioner never reads before an object is cached:
// managed fields and kubectl's copy of the last applied object, the
// largest parts of most objects.
func trim(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a != nil {
			delete(a, corev1.LastAppliedConfigAnnotation)
		}
	}
	return obj, nil
}

// watchError keeps a refusal quiet: until the local-storage addon's RBAC
// is applied (a moment after a fresh server starts) or when the addon is
// disabled, every list is forbidden. That is said once, not at each of the
// reflector's retries; other errors go to client-go's usual handler.
func (p *Provisioner) watchError(what string) cache.WatchErrorHandlerWithContext {
	return func(ctx context.Context, r *cache.Reflector, err error) {
		if !apierrors.IsForbidden(err) {
			cache.DefaultWatchErrorHandler(ctx, r, err)
			return
		}
		p.access.refused(what, err)
		p.settle()
	}
}

// accessLog says once that the node may not read what local storage
// needs, and again after access was granted and then lost.
type accessLog struct {
	mu   sync.Mutex
	told bool
}

func (a *accessLog) refused(what string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.told {
		klog.V(2).InfoS("Local storage may not read "+what+" yet", "err", err)
		return
	}
	a.told = true
	klog.InfoS("Local storage waits for the right to read "+what+": the local-storage addon grants it (ClusterRole "+ClusterRoleName+
		"); claims of StorageClass local-path stay Pending until it is applied, or for good with --disable local-storage", "err", err)
}

func (a *accessLog) granted() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.told = false
}
