package localstorage

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// verdict is what the provisioner does with a claim or a volume.
type verdict int

const (
	// skip: not ours, not this node's, or nothing to do (yet).
	skip verdict = iota
	// refuse: ours, but it cannot be done; a Warning Event says why and
	// nothing is retried until the object changes.
	refuse
	// act: provision the claim, or remove the released volume.
	act
)

func (v verdict) String() string {
	return [...]string{"skip", "refuse", "act"}[v]
}

// forThisNode is the cheap test the claim informer's handlers make before
// queueing a claim: still unbound, not being deleted, and placed on this
// node by the scheduler. Every node sees every claim; most are not its own.
func forThisNode(node string, claim *corev1.PersistentVolumeClaim) bool {
	return claim.DeletionTimestamp == nil &&
		claim.Spec.VolumeName == "" &&
		claim.Annotations[storagehelpers.AnnSelectedNode] == node
}

// requestedProvisioner is the provisioner the PV controller handed the
// claim to: it sets the annotation only once it decided that no existing
// volume fits and the claim's class is to provision one, and (with
// WaitForFirstConsumer) only once the scheduler chose a node. Older
// controllers set only the beta key.
func requestedProvisioner(claim *corev1.PersistentVolumeClaim) string {
	if p := claim.Annotations[storagehelpers.AnnStorageProvisioner]; p != "" {
		return p
	}
	return claim.Annotations[storagehelpers.AnnBetaStorageProvisioner]
}

// decideClaim says whether this node provisions claim, whose class is
// class (nil if unknown), and why not. A refusal's reason is the Event's
// message: it says what the user can do.
func decideClaim(node string, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) (verdict, string) {
	switch {
	case claim.DeletionTimestamp != nil:
		return skip, "the claim is being deleted"
	case claim.Spec.VolumeName != "":
		return skip, "the claim is bound already"
	case claim.Status.Phase != "" && claim.Status.Phase != corev1.ClaimPending:
		return skip, fmt.Sprintf("the claim is %s", claim.Status.Phase)
	}
	selected := claim.Annotations[storagehelpers.AnnSelectedNode]
	if selected == "" {
		// With Immediate binding nobody chooses a node, and a directory
		// must live on one: the class must be WaitForFirstConsumer.
		return skip, "no node selected for the claim (its class must use volumeBindingMode WaitForFirstConsumer)"
	}
	if selected != node {
		return skip, fmt.Sprintf("the claim is for node %s", selected)
	}
	if p := requestedProvisioner(claim); p != ProvisionerName {
		if p == "" {
			return skip, "the PV controller has not asked for a volume yet"
		}
		return skip, fmt.Sprintf("the claim is for provisioner %s", p)
	}
	if class == nil {
		// The class informer lags, or the class is gone; its arrival
		// queues the claim again.
		return skip, fmt.Sprintf("StorageClass %q is unknown", storagehelpers.GetPersistentVolumeClaimClass(claim))
	}
	if class.Provisioner != ProvisionerName {
		return skip, fmt.Sprintf("StorageClass %s is for provisioner %s", class.Name, class.Provisioner)
	}
	if why := unsupported(claim); why != "" {
		return refuse, why
	}
	return act, ""
}

// unsupported says why local-path cannot make a volume for claim, or "" if
// it can. Each answer names what to change.
func unsupported(claim *corev1.PersistentVolumeClaim) string {
	if ds := dataSourceOf(claim); ds != "" {
		return fmt.Sprintf("local-path cannot fill a new volume from a data source (%s): it makes empty directories only; "+
			"remove spec.dataSource and spec.dataSourceRef, and copy the data in from a pod", ds)
	}
	if claim.Spec.Selector != nil {
		return "local-path cannot provision a claim with a selector: a selector chooses among existing PersistentVolumes by their labels; " +
			"remove spec.selector, or create a PersistentVolume that matches it yourself"
	}
	if m := claim.Spec.VolumeMode; m != nil && *m != corev1.PersistentVolumeFilesystem {
		return fmt.Sprintf("local-path provides filesystem volumes only, and this claim asks for volumeMode %s; "+
			"remove spec.volumeMode or set it to Filesystem", *m)
	}
	var bad []string
	for _, m := range claim.Spec.AccessModes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			bad = append(bad, string(m))
		}
	}
	if len(bad) > 0 {
		return fmt.Sprintf("local-path supports only ReadWriteOnce and ReadWriteOncePod: its volume is a directory on one node, "+
			"and this claim asks for %s; use ReadWriteOnce (pods that share the volume then run on the same node), "+
			"or a StorageClass backed by shared storage (NFS, Longhorn, ...) for %s",
			strings.Join(bad, " and "), strings.Join(bad, " and "))
	}
	if len(claim.Spec.AccessModes) == 0 {
		return "the claim names no access mode; set spec.accessModes to [ReadWriteOnce]"
	}
	if q, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || q.IsZero() {
		return "the claim requests no storage; set spec.resources.requests.storage (local-path does not enforce it, but a volume must state its size)"
	}
	return ""
}

// dataSourceOf describes the claim's data source, or "".
func dataSourceOf(claim *corev1.PersistentVolumeClaim) string {
	if ref := claim.Spec.DataSourceRef; ref != nil {
		return fmt.Sprintf("%s %s", ref.Kind, ref.Name)
	}
	if ds := claim.Spec.DataSource; ds != nil {
		return fmt.Sprintf("%s %s", ds.Kind, ds.Name)
	}
	return ""
}
