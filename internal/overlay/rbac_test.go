package overlay

import (
	"context"
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestEnsureRBAC(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	for i := 0; i < 2; i++ { // idempotent
		if err := EnsureRBAC(ctx, client); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	role, err := client.RbacV1().ClusterRoles().Get(ctx, ClusterRoleName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}}}
	if !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("rules %v", role.Rules)
	}
	b, err := client.RbacV1().ClusterRoleBindings().Get(ctx, ClusterRoleName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b.RoleRef.Name != ClusterRoleName || len(b.Subjects) != 1 || b.Subjects[0].Kind != "Group" || b.Subjects[0].Name != "system:nodes" {
		t.Errorf("binding %+v", b)
	}

	// Someone changed them: put back.
	role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}})
	client.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{})
	b.Subjects = nil
	client.RbacV1().ClusterRoleBindings().Update(ctx, b, metav1.UpdateOptions{})
	if err := EnsureRBAC(ctx, client); err != nil {
		t.Fatal(err)
	}
	role, _ = client.RbacV1().ClusterRoles().Get(ctx, ClusterRoleName, metav1.GetOptions{})
	b, _ = client.RbacV1().ClusterRoleBindings().Get(ctx, ClusterRoleName, metav1.GetOptions{})
	if !reflect.DeepEqual(role.Rules, want) || len(b.Subjects) != 1 {
		t.Errorf("not put back: %v %v", role.Rules, b.Subjects)
	}
}
