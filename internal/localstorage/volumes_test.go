package localstorage

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

const testBase = "/var/lib/skiff/storage"

func TestNames(t *testing.T) {
	claim := pendingClaim(testNode)
	pv := volumeName(claim)
	if pv != "pvc-0d6f3c1e-5b7a-4a49-9c55-3f0e8d2b7a11" {
		t.Errorf("volumeName = %q", pv)
	}
	if got, want := dirName(pv, claim.Namespace, claim.Name), "pvc-0d6f3c1e-5b7a-4a49-9c55-3f0e8d2b7a11_apps_data"; got != want {
		t.Errorf("dirName = %q, want %q", got, want)
	}
	long := dirName(pv, strings.Repeat("n", 63), strings.Repeat("c", 253))
	if len(long) != maxDirName || !strings.HasPrefix(long, pv+"_") {
		t.Errorf("a long dirName is %d bytes (%q...), want %d starting with the volume's name", len(long), long[:50], maxDirName)
	}
	if err := checkVolumePath(testBase, pv, filepath.Join(testBase, long)); err != nil {
		t.Errorf("a cut directory name no longer passes the path check: %v", err)
	}
}

func TestVolumeFor(t *testing.T) {
	claim := pendingClaim(testNode)
	claim.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}
	class := localPathClass()
	retain := corev1.PersistentVolumeReclaimRetain
	class.ReclaimPolicy = &retain
	class.MountOptions = []string{"noatime"}

	pv := volumeFor(testNode, testBase, claim, class)
	path := testBase + "/pvc-0d6f3c1e-5b7a-4a49-9c55-3f0e8d2b7a11_apps_data"

	if pv.Name != "pvc-0d6f3c1e-5b7a-4a49-9c55-3f0e8d2b7a11" {
		t.Errorf("name = %q", pv.Name)
	}
	if got := pv.Labels[LabelNode]; got != testNode {
		t.Errorf("label %s = %q, want %q", LabelNode, got, testNode)
	}
	if got := pv.Annotations[storagehelpers.AnnDynamicallyProvisioned]; got != ProvisionerName {
		t.Errorf("provisioned-by = %q", got)
	}
	if got := pv.Annotations[AnnotationPath]; got != path {
		t.Errorf("annotation %s = %q, want %q", AnnotationPath, got, path)
	}
	hp := pv.Spec.HostPath
	if hp == nil || hp.Path != path || hp.Type == nil || *hp.Type != corev1.HostPathDirectoryOrCreate {
		t.Errorf("hostPath = %+v, want %s DirectoryOrCreate", hp, path)
	}
	if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("capacity = %s, want 1Gi", got.String())
	}
	if !reflect.DeepEqual(pv.Spec.AccessModes, claim.Spec.AccessModes) {
		t.Errorf("access modes = %v, want the claim's %v", pv.Spec.AccessModes, claim.Spec.AccessModes)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Errorf("reclaim policy = %s, want the class's Retain", pv.Spec.PersistentVolumeReclaimPolicy)
	}
	if pv.Spec.StorageClassName != "local-path" {
		t.Errorf("storageClassName = %q", pv.Spec.StorageClassName)
	}
	if len(pv.Spec.MountOptions) != 0 {
		t.Errorf("mount options %v: the API refuses them on hostPath volumes", pv.Spec.MountOptions)
	}
	if pv.Spec.VolumeMode == nil || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Errorf("volumeMode = %v, want Filesystem", pv.Spec.VolumeMode)
	}
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.Kind != "PersistentVolumeClaim" || ref.Namespace != "apps" || ref.Name != "data" || ref.UID != claim.UID {
		t.Errorf("claimRef = %+v, want the claim apps/data with its UID", ref)
	}
	// The affinity as the scheduler and kubelet read it, against Nodes
	// labelled the way the kubelet labels them.
	if err := storagehelpers.CheckNodeAffinity(pv, map[string]string{corev1.LabelHostname: testNode}); err != nil {
		t.Errorf("the volume does not fit its own node: %v", err)
	}
	if err := storagehelpers.CheckNodeAffinity(pv, map[string]string{corev1.LabelHostname: "node-b"}); err == nil {
		t.Error("the volume fits another node")
	}
	if !storagehelpers.IsVolumeBoundToClaim(pv, claim) {
		t.Error("the PV controller would not see the volume as bound to its claim")
	}
	if !ours(testNode, pv) || ours("node-b", pv) {
		t.Error("ours() does not recognise the volume as this node's only")
	}

	// Without a policy in the class, Delete (the API's default).
	class.ReclaimPolicy = nil
	if got := volumeFor(testNode, testBase, claim, class).Spec.PersistentVolumeReclaimPolicy; got != corev1.PersistentVolumeReclaimDelete {
		t.Errorf("reclaim policy without one in the class = %s, want Delete", got)
	}
}

// releasedVolume is the volume of pendingClaim once its claim is gone.
func releasedVolume() *corev1.PersistentVolume {
	pv := volumeFor(testNode, testBase, pendingClaim(testNode), localPathClass())
	pv.Status.Phase = corev1.VolumeReleased
	return pv
}

func TestDecideVolume(t *testing.T) {
	cases := []struct {
		name   string
		change func(*corev1.PersistentVolume)
		want   verdict
		reason string
	}{
		{name: "released, Delete", want: act},
		{name: "bound", want: skip, change: func(pv *corev1.PersistentVolume) { pv.Status.Phase = corev1.VolumeBound }},
		{name: "available", want: skip, change: func(pv *corev1.PersistentVolume) { pv.Status.Phase = corev1.VolumeAvailable }},
		{name: "retain", want: skip, reason: "Retain", change: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		}},
		{name: "another node's", want: skip, change: func(pv *corev1.PersistentVolume) { pv.Labels[LabelNode] = "node-b" }},
		{name: "another provisioner's", want: skip, change: func(pv *corev1.PersistentVolume) {
			pv.Annotations[storagehelpers.AnnDynamicallyProvisioned] = "example.com/nfs"
		}},
		{name: "not hostPath", want: skip, change: func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath = nil
			pv.Spec.NFS = &corev1.NFSVolumeSource{Server: "nfs", Path: "/"}
		}},
		{name: "path changed to /etc", want: refuse, reason: "not directly inside", change: func(pv *corev1.PersistentVolume) { pv.Spec.HostPath.Path = "/etc" }},
		{name: "path changed to the base", want: refuse, reason: "base directory itself", change: func(pv *corev1.PersistentVolume) { pv.Spec.HostPath.Path = testBase }},
		{name: "path changed to another volume", want: refuse, reason: "not named for volume", change: func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath.Path = testBase + "/pvc-other_apps_data"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pv := releasedVolume()
			if tc.change != nil {
				tc.change(pv)
			}
			got, why := decideVolume(testNode, testBase, pv)
			if got != tc.want {
				t.Fatalf("decideVolume = %v (%q), want %v", got, why, tc.want)
			}
			if !strings.Contains(why, tc.reason) {
				t.Errorf("reason %q does not say %q", why, tc.reason)
			}
		})
	}
}

func TestRemoveOnDelete(t *testing.T) {
	pv := releasedVolume()
	if !removeOnDelete(testNode, pv) {
		t.Error("a released volume with policy Delete, deleted: its directory is to go")
	}
	pv.Status.Phase = corev1.VolumeAvailable
	if !removeOnDelete(testNode, pv) {
		t.Error("an unbound volume with policy Delete, deleted: its directory is to go")
	}
	pv.Status.Phase = corev1.VolumeBound
	if removeOnDelete(testNode, pv) {
		t.Error("a volume forced away while bound: its claim still uses the directory")
	}
	pv = releasedVolume()
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	if removeOnDelete(testNode, pv) {
		t.Error("Retain: the directory stays")
	}
	if removeOnDelete("node-b", releasedVolume()) {
		t.Error("another node's volume")
	}
}

func TestCheckVolumePath(t *testing.T) {
	const pv = "pvc-1234"
	cases := []struct {
		base, path string
		ok         bool
	}{
		{testBase, testBase + "/pvc-1234_ns_claim", true},
		{testBase + "/", testBase + "/pvc-1234_ns_claim", true}, // the base as the user wrote it
		{testBase, testBase, false},
		{testBase, testBase + "/", false},
		{testBase, "/", false},
		{testBase, "", false},
		{testBase, "relative/pvc-1234_ns_claim", false},
		{testBase, testBase + "/../pvc-1234_ns_claim", false},
		{testBase, testBase + "/./pvc-1234_ns_claim", false},
		{testBase, testBase + "/pvc-1234_ns_claim/..", false},
		{testBase, testBase + "/sub/pvc-1234_ns_claim", false},
		{testBase, testBase + "-other/pvc-1234_ns_claim", false},
		{testBase, "/var/lib/skiff/pvc-1234_ns_claim", false},
		{testBase, testBase + "/pvc-1234", false},       // not the layout
		{testBase, testBase + "/pvc-12345_ns_c", false}, // another volume
		{testBase, testBase + "/x_pvc-1234_ns_c", false},
	}
	for _, tc := range cases {
		err := checkVolumePath(tc.base, pv, tc.path)
		if (err == nil) != tc.ok {
			t.Errorf("checkVolumePath(%q, %q, %q) = %v, want ok=%v", tc.base, pv, tc.path, err, tc.ok)
		}
	}
	if err := checkVolumePath(testBase, "", testBase+"/_ns_c"); err == nil {
		t.Error("an empty volume name passed")
	}
}
