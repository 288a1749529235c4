package localstorage

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"
)

// requestTimeout bounds each call to the API server.
const requestTimeout = 30 * time.Second

// Event reasons, as the PV controller and external provisioners use them.
const (
	reasonProvisioningFailed    = "ProvisioningFailed"
	reasonProvisioningSucceeded = "ProvisioningSucceeded"
	reasonVolumeFailedDelete    = "VolumeFailedDelete"
)

// sync does what k asks; an error queues it again after a delay.
func (p *Provisioner) sync(ctx context.Context, k key) error {
	switch k.op {
	case opClaim:
		return p.syncClaim(ctx, k)
	case opVolume:
		return p.syncVolume(ctx, k)
	case opVolumeGone:
		return p.removeDeletedVolume(k)
	case opClaimGone:
		return p.cleanUpClaim(ctx, k)
	}
	return nil
}

// syncClaim provisions a claim placed on this node, or says in an Event
// why it cannot.
func (p *Provisioner) syncClaim(ctx context.Context, k key) error {
	obj, exists, err := p.claims.GetStore().GetByKey(k.namespace + "/" + k.name)
	if err != nil || !exists {
		return err
	}
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	class := p.class(storagehelpers.GetPersistentVolumeClaimClass(claim))
	v, why := decideClaim(p.cfg.NodeName, claim, class)
	switch v {
	case skip:
		klog.V(4).InfoS("Local storage leaves a claim", "claim", klog.KObj(claim), "reason", why)
		return nil
	case refuse:
		p.report(claim, string(claim.UID), reasonProvisioningFailed, why)
		return nil
	}
	return p.provision(ctx, claim, class)
}

func (p *Provisioner) class(name string) *storagev1.StorageClass {
	if name == "" {
		return nil
	}
	obj, exists, err := p.classes.GetStore().GetByKey(name)
	if err != nil || !exists {
		return nil
	}
	class, _ := obj.(*storagev1.StorageClass)
	return class
}

// provision makes the claim's directory, then its PersistentVolume, bound
// in advance to the claim. Both steps tolerate having been done before
// (a restart, a retry, a stale cache).
func (p *Provisioner) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) error {
	pv := volumeFor(p.cfg.NodeName, p.base, claim, class)
	if _, exists, _ := p.volumes.GetStore().GetByKey(pv.Name); exists {
		return nil // made before: the PV controller binds it
	}
	path := pv.Spec.HostPath.Path
	if err := makeVolumeDir(p.base, pv.Name, path); err != nil {
		p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "node %s: %v", p.cfg.NodeName, err)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	_, err := p.cfg.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		return nil
	case err != nil:
		err = fmt.Errorf("creating PersistentVolume %s: %w%s", pv.Name, err, forbiddenHint(err))
		p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "node %s: %v", p.cfg.NodeName, err)
		return err
	}
	p.forget(string(claim.UID))
	klog.InfoS("Provisioned a local volume", "claim", klog.KObj(claim), "volume", pv.Name, "path", path)
	p.recorder.Eventf(claim, corev1.EventTypeNormal, reasonProvisioningSucceeded,
		"Successfully provisioned volume %s: directory %s on node %s", pv.Name, path, p.cfg.NodeName)
	return nil
}

// syncVolume removes a released volume of this node whose reclaim policy
// is Delete: its directory first, then the object, so that a failure
// leaves the volume in the API to try again (and for people to see).
func (p *Provisioner) syncVolume(ctx context.Context, k key) error {
	obj, exists, err := p.volumes.GetStore().GetByKey(k.name)
	if err != nil || !exists {
		return err
	}
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return nil
	}
	v, why := decideVolume(p.cfg.NodeName, p.base, pv)
	switch v {
	case skip:
		klog.V(4).InfoS("Local storage leaves a volume", "volume", pv.Name, "reason", why)
		return nil
	case refuse:
		p.report(pv, string(pv.UID), reasonVolumeFailedDelete, why)
		return nil
	}
	path := pv.Spec.HostPath.Path
	if err := removeVolumeDir(p.base, pv.Name, path); err != nil {
		p.recorder.Eventf(pv, corev1.EventTypeWarning, reasonVolumeFailedDelete, "node %s: %v", p.cfg.NodeName, err)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	uid := pv.UID
	err = p.cfg.Client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		err = fmt.Errorf("deleting PersistentVolume %s: %w%s", pv.Name, err, forbiddenHint(err))
		p.recorder.Eventf(pv, corev1.EventTypeWarning, reasonVolumeFailedDelete, "node %s: %v", p.cfg.NodeName, err)
		return err
	}
	p.forget(string(pv.UID))
	klog.InfoS("Removed a released local volume", "volume", pv.Name, "path", path)
	return nil
}

// removeDeletedVolume removes the directory of a volume someone deleted
// before it was released (see removeOnDelete).
func (p *Provisioner) removeDeletedVolume(k key) error {
	p.forget(k.uid)
	if err := checkVolumePath(p.base, k.name, k.path); err != nil {
		klog.InfoS("Not removing the directory of a deleted local volume", "volume", k.name, "reason", err)
		return nil
	}
	if err := removeVolumeDir(p.base, k.name, k.path); err != nil {
		return err
	}
	klog.InfoS("Removed the directory of a deleted local volume", "volume", k.name, "path", k.path)
	return nil
}

// cleanUpClaim removes the empty directory a deleted claim may have left
// when its PersistentVolume was never created. With a volume the
// directory is the volume's business (removed when released, kept with
// Retain); with data in it, it stays.
func (p *Provisioner) cleanUpClaim(ctx context.Context, k key) error {
	p.forget(k.uid)
	if k.uid == "" {
		return nil
	}
	pvName := "pvc-" + k.uid
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	_, err := p.cfg.Client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	switch {
	case err == nil:
		return nil
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("checking for PersistentVolume %s of deleted claim %s/%s: %w%s", pvName, k.namespace, k.name, err, forbiddenHint(err))
	}
	path := filepath.Join(p.base, dirName(pvName, k.namespace, k.name))
	removed, err := removeEmptyVolumeDir(p.base, pvName, path)
	if removed {
		klog.InfoS("Removed the empty directory of a deleted claim", "claim", klog.KRef(k.namespace, k.name), "path", path)
	}
	return err
}

// report records a refusal as a Warning Event on obj, unless the same was
// reported for it last time.
func (p *Provisioner) report(obj object, uid, reason, msg string) {
	p.reportedMu.Lock()
	same := p.reported[uid] == msg
	p.reported[uid] = msg
	p.reportedMu.Unlock()
	if same {
		return
	}
	p.recorder.Event(obj, corev1.EventTypeWarning, reason, msg)
	klog.InfoS("Local storage refused", "object", klog.KObj(obj), "reason", reason, "message", msg)
}

// object is a claim or a volume: what Events are about.
type object interface {
	runtime.Object
	metav1.Object
}

func (p *Provisioner) forget(uid string) {
	p.reportedMu.Lock()
	defer p.reportedMu.Unlock()
	delete(p.reported, uid)
}

// forbiddenHint names what grants a right the API server refused.
func forbiddenHint(err error) string {
	if !apierrors.IsForbidden(err) {
		return ""
	}
	return "; nodes get this right from the local-storage addon (ClusterRole " + ClusterRoleName +
		" in <data-dir>/server/manifests/local-storage.yaml on the server): check that it is applied and not disabled"
}
