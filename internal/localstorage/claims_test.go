package localstorage

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

const testNode = "node-a"

// pendingClaim is a claim of class local-path as it looks once the
// scheduler placed its pod on node and the PV controller handed it to
// local-path.
func pendingClaim(node string) *corev1.PersistentVolumeClaim {
	class := "local-path"
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "apps",
			Name:      "data",
			UID:       "0d6f3c1e-5b7a-4a49-9c55-3f0e8d2b7a11",
			Annotations: map[string]string{
				storagehelpers.AnnSelectedNode:       node,
				storagehelpers.AnnStorageProvisioner: ProvisionerName,
			},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
}

func localPathClass() *storagev1.StorageClass {
	del := corev1.PersistentVolumeReclaimDelete
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	return &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: "local-path"},
		Provisioner:       ProvisionerName,
		ReclaimPolicy:     &del,
		VolumeBindingMode: &wffc,
	}
}

func TestDecideClaim(t *testing.T) {
	now := metav1.Now()
	block := corev1.PersistentVolumeBlock
	filesystem := corev1.PersistentVolumeFilesystem
	otherClass := localPathClass()
	otherClass.Provisioner = "example.com/nfs"

	cases := []struct {
		name    string
		change  func(*corev1.PersistentVolumeClaim)
		class   *storagev1.StorageClass // localPathClass() unless noClass
		noClass bool
		want    verdict
		reason  string // a part of the reason
	}{
		{name: "ours", want: act},
		{name: "beta provisioner key", want: act, change: func(c *corev1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnStorageProvisioner)
			c.Annotations[storagehelpers.AnnBetaStorageProvisioner] = ProvisionerName
		}},
		{name: "phase not set yet", want: act, change: func(c *corev1.PersistentVolumeClaim) { c.Status.Phase = "" }},
		{name: "read-write-once-pod", want: act, change: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}
		}},
		{name: "filesystem mode named", want: act, change: func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = &filesystem }},

		{name: "other node", want: skip, reason: "for node node-b", change: func(c *corev1.PersistentVolumeClaim) {
			c.Annotations[storagehelpers.AnnSelectedNode] = "node-b"
		}},
		{name: "no node selected (Immediate)", want: skip, reason: "WaitForFirstConsumer", change: func(c *corev1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnSelectedNode)
		}},
		{name: "PV controller not done", want: skip, reason: "not asked", change: func(c *corev1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnStorageProvisioner)
		}},
		{name: "another provisioner asked", want: skip, reason: "example.com/nfs", change: func(c *corev1.PersistentVolumeClaim) {
			c.Annotations[storagehelpers.AnnStorageProvisioner] = "example.com/nfs"
		}},
		{name: "class of another provisioner", class: otherClass, want: skip, reason: "is for provisioner example.com/nfs"},
		{name: "class unknown", noClass: true, want: skip, reason: "unknown"},
		{name: "bound", want: skip, reason: "bound", change: func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pvc-x" }},
		{name: "lost", want: skip, reason: "Lost", change: func(c *corev1.PersistentVolumeClaim) { c.Status.Phase = corev1.ClaimLost }},
		{name: "being deleted", want: skip, reason: "deleted", change: func(c *corev1.PersistentVolumeClaim) { c.DeletionTimestamp = &now }},

		{name: "read-write-many", want: refuse, reason: "supports only ReadWriteOnce and ReadWriteOncePod", change: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}},
		{name: "read-only-many beside read-write-once", want: refuse, reason: "asks for ReadOnlyMany;", change: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany}
		}},
		{name: "selector", want: refuse, reason: "selector", change: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"disk": "ssd"}}
		}},
		{name: "data source", want: refuse, reason: "data source (PersistentVolumeClaim old)", change: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "old"}
		}},
		{name: "data source ref", want: refuse, reason: "data source (VolumeSnapshot snap)", change: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{Kind: "VolumeSnapshot", Name: "snap"}
		}},
		{name: "block", want: refuse, reason: "volumeMode Block", change: func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = &block }},
		{name: "no size", want: refuse, reason: "requests no storage", change: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests = nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			claim := pendingClaim(testNode)
			if tc.change != nil {
				tc.change(claim)
			}
			class := tc.class
			if class == nil && !tc.noClass {
				class = localPathClass()
			}
			got, why := decideClaim(testNode, claim, class)
			if got != tc.want {
				t.Fatalf("decideClaim = %v (%q), want %v", got, why, tc.want)
			}
			if !strings.Contains(why, tc.reason) {
				t.Errorf("reason %q does not say %q", why, tc.reason)
			}
		})
	}
}

// A refusal says what to do instead, not only what is wrong.
func TestRefusalsSayWhatToDo(t *testing.T) {
	claim := pendingClaim(testNode)
	claim.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	_, why := decideClaim(testNode, claim, localPathClass())
	for _, want := range []string{"ReadWriteMany", "use ReadWriteOnce", "shared storage"} {
		if !strings.Contains(why, want) {
			t.Errorf("reason %q does not say %q", why, want)
		}
	}
}

func TestForThisNode(t *testing.T) {
	now := metav1.Now()
	cases := []struct {
		name   string
		change func(*corev1.PersistentVolumeClaim)
		want   bool
	}{
		{name: "placed here", want: true},
		{name: "placed here, PV controller not done yet", want: true, change: func(c *corev1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnStorageProvisioner)
		}},
		{name: "placed elsewhere", change: func(c *corev1.PersistentVolumeClaim) { c.Annotations[storagehelpers.AnnSelectedNode] = "node-b" }},
		{name: "not placed", change: func(c *corev1.PersistentVolumeClaim) { c.Annotations = nil }},
		{name: "bound", change: func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pvc-1" }},
		{name: "being deleted", change: func(c *corev1.PersistentVolumeClaim) { c.DeletionTimestamp = &now }},
	}
	for _, tc := range cases {
		claim := pendingClaim(testNode)
		if tc.change != nil {
			tc.change(claim)
		}
		if got := forThisNode(testNode, claim); got != tc.want {
			t.Errorf("%s: forThisNode = %v, want %v", tc.name, got, tc.want)
		}
	}
}
