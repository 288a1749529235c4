package localstorage

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
	"text/template"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The addon's manifest, which the deploy controller applies on the server.
const manifestPath = "../addons/manifests/local-storage.yaml"

// The manifest holds the class this package serves and exactly the rights
// its API calls need (informers list and watch; get, create and delete
// volumes; Events), for the group every node's credentials carry.
func TestManifest(t *testing.T) {
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	// A Go template without actions: it renders to itself.
	tmpl, err := template.New("local-storage.yaml").Option("missingkey=error").Parse(string(raw))
	if err != nil {
		t.Fatalf("the manifest is not a valid template: %v", err)
	}
	var rendered bytes.Buffer
	if err := tmpl.Execute(&rendered, struct{}{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rendered.Bytes(), raw) {
		t.Error("the manifest has template actions; it needs none")
	}

	var (
		class   *storagev1.StorageClass
		role    *rbacv1.ClusterRole
		binding *rbacv1.ClusterRoleBinding
	)
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		var into any
		switch tm.Kind {
		case "StorageClass":
			class = &storagev1.StorageClass{}
			into = class
		case "ClusterRole":
			role = &rbacv1.ClusterRole{}
			into = role
		case "ClusterRoleBinding":
			binding = &rbacv1.ClusterRoleBinding{}
			into = binding
		case "":
			continue // a comment-only document
		default:
			t.Fatalf("unexpected %s in the manifest", tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Fatalf("%s: %v", tm.Kind, err)
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
