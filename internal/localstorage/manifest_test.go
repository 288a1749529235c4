package localstorage

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/skiff-k8s/skiff/internal/addons"
)

// The manifest holds the class this package serves and exactly the rights
// its API calls need (informers list and watch; get, create and delete
// volumes; Events), for the group every node's credentials carry.
func TestManifest(t *testing.T) {
	objs, err := addons.Objects(addons.LocalStorage, addons.Values{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		class   *storagev1.StorageClass
		role    *rbacv1.ClusterRole
		binding *rbacv1.ClusterRoleBinding
	)
	for _, o := range objs {
		switch o := o.(type) {
		case *storagev1.StorageClass:
			class = o
		case *rbacv1.ClusterRole:
			role = o
		case *rbacv1.ClusterRoleBinding:
			binding = o
		default:
			t.Fatalf("unexpected %T in the manifest", o)
		}
	}
	if class == nil || role == nil || binding == nil {
		t.Fatalf("the manifest lacks one of StorageClass, ClusterRole, ClusterRoleBinding: %v %v %v", class != nil, role != nil, binding != nil)
	}

	if class.Name != "local-path" || class.Provisioner != ProvisionerName {
		t.Errorf("StorageClass %s of provisioner %s, want local-path of %s", class.Name, class.Provisioner, ProvisionerName)
	}
	if class.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" {
		t.Error("local-path is not the default class")
	}
	if m := class.VolumeBindingMode; m == nil || *m != storagev1.VolumeBindingWaitForFirstConsumer {
		t.Errorf("volumeBindingMode %v, want WaitForFirstConsumer (no node acts on an Immediate claim)", m)
	}
	if p := class.ReclaimPolicy; p == nil || *p != corev1.PersistentVolumeReclaimDelete {
		t.Errorf("reclaimPolicy %v, want Delete", p)
	}

	if role.Name != ClusterRoleName {
		t.Errorf("ClusterRole %s, want %s (the errors name it)", role.Name, ClusterRoleName)
	}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"persistentvolumes"}, Verbs: []string{"get", "list", "watch", "create", "delete"}},
		{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("ClusterRole rules:\n%+v\nwant\n%+v", role.Rules, want)
	}
	wantRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ClusterRoleName}
	if binding.Name != ClusterRoleName || binding.RoleRef != wantRef {
		t.Errorf("ClusterRoleBinding %s to %+v, want %s to %+v", binding.Name, binding.RoleRef, ClusterRoleName, wantRef)
	}
	wantSubjects := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:nodes"}}
	if !reflect.DeepEqual(binding.Subjects, wantSubjects) {
		t.Errorf("ClusterRoleBinding subjects %+v, want %+v", binding.Subjects, wantSubjects)
	}
}
