package localstorage

import (
	"fmt"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// maxDirName is the longest file name Linux file systems take (NAME_MAX).
const maxDirName = 255

// volumeName is the PersistentVolume's name for claim: "pvc-<claim uid>",
// as the PV controller and local-path-provisioner name theirs.
func volumeName(claim *corev1.PersistentVolumeClaim) string {
	return "pvc-" + string(claim.UID)
}

// dirName is the volume's directory under the base directory:
// <pv name>_<namespace>_<claim name>, local-path-provisioner's layout, so
// that an admin looking at the disk sees whose data it is. A claim name
// can be 253 characters long; the name is cut to fit a file name, and
// stays unique through the PV name at its start.
func dirName(pvName, namespace, claimName string) string {
	name := pvName + "_" + namespace + "_" + claimName
	if len(name) > maxDirName {
		name = name[:maxDirName]
	}
	return name
}

// volumeFor is the PersistentVolume that node provisions for claim of
// class, in a directory under base: a hostPath volume pinned to the node,
// bound in advance to the claim (the PV controller completes the binding),
// and marked as provisioned by local-path, so that the PV controller
// leaves its deletion to us.
func volumeFor(node, base string, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) *corev1.PersistentVolume {
	name := volumeName(claim)
	path := filepath.Join(base, dirName(name, claim.Namespace, claim.Name))
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	hostPathType := corev1.HostPathDirectoryOrCreate
	filesystem := corev1.PersistentVolumeFilesystem
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{LabelNode: node},
			Annotations: map[string]string{
				storagehelpers.AnnDynamicallyProvisioned: ProvisionerName,
				AnnotationPath:                           path,
			},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity: corev1.ResourceList{
				corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage],
			},
			AccessModes:                   append([]corev1.PersistentVolumeAccessMode(nil), claim.Spec.AccessModes...),
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			VolumeMode:                    &filesystem,
			// Mount options are not copied from the class: the API refuses
			// them on hostPath volumes.
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &hostPathType},
			},
			// The kubelet labels its Node kubernetes.io/hostname with its
			// --hostname-override, lower-cased; skiff sets that to the node
			// name, which is lower-case already.
			NodeAffinity: &corev1.VolumeNodeAffinity{
				Required: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{
						MatchExpressions: []corev1.NodeSelectorRequirement{{
							Key:      corev1.LabelHostname,
							Operator: corev1.NodeSelectorOpIn,
							Values:   []string{node},
						}},
					}},
				},
			},
			ClaimRef: &corev1.ObjectReference{
				Kind:       "PersistentVolumeClaim",
				APIVersion: "v1",
				Namespace:  claim.Namespace,
				Name:       claim.Name,
				UID:        claim.UID,
			},
		},
	}
}

// ours says whether pv is a volume this node provisioned.
func ours(node string, pv *corev1.PersistentVolume) bool {
	return pv.Labels[LabelNode] == node &&
		pv.Annotations[storagehelpers.AnnDynamicallyProvisioned] == ProvisionerName &&
		pv.Spec.HostPath != nil
}

// decideVolume says whether this node removes pv (its directory, then the
// object), and why not. Only a released volume whose policy is Delete
// goes; a refusal's reason is the Event's message.
func decideVolume(node, base string, pv *corev1.PersistentVolume) (verdict, string) {
	if !ours(node, pv) {
		return skip, "not a local-path volume of this node"
	}
	if pv.Status.Phase != corev1.VolumeReleased {
		return skip, fmt.Sprintf("the volume is %s", pv.Status.Phase)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		return skip, fmt.Sprintf("the volume's reclaim policy is %s", pv.Spec.PersistentVolumeReclaimPolicy)
	}
	if err := checkVolumePath(base, pv.Name, pv.Spec.HostPath.Path); err != nil {
		return refuse, fmt.Sprintf("not removing the volume's directory: %v; remove the directory and the PersistentVolume yourself", err)
	}
	return act, ""
}

// removeOnDelete says whether the directory of pv, gone from the API,
// is to be removed: a volume of ours with policy Delete that no claim was
// bound to any more. (A bound volume can only vanish when someone forced
// it past its protection finalizer; its claim and pods still use the
// data, so it stays.)
func removeOnDelete(node string, pv *corev1.PersistentVolume) bool {
	return ours(node, pv) &&
		pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete &&
		pv.Status.Phase != corev1.VolumeBound
}

// checkVolumePath makes sure path, read from a PersistentVolume that
// anyone allowed to edit volumes may have changed, is a volume directory
// this provisioner made: a direct child of base, named for the volume
// (pvName followed by "_"), and not base itself. Only then may it be
// removed with everything in it.
func checkVolumePath(base, pvName, path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("path %q is not absolute", path)
	}
	if filepath.Clean(path) != path {
		return fmt.Errorf("path %q is not in its clean form", path)
	}
	base = filepath.Clean(base)
	if path == base {
		return fmt.Errorf("path %s is the base directory itself", path)
	}
	if filepath.Dir(path) != base {
		return fmt.Errorf("path %s is not directly inside the base directory %s", path, base)
	}
	if name := filepath.Base(path); pvName == "" || !strings.HasPrefix(name, pvName+"_") {
		return fmt.Errorf("directory %s is not named for volume %s", name, pvName)
	}
	return nil
}
