package overlay

import (
	"context"
	"fmt"
	"reflect"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ClusterRoleName names the ClusterRole (and its binding) that lets every
// node read all Node objects.
//
// The overlay runs with the node's own credentials (system:node:<name>),
// and since Kubernetes 1.34 the Node authorizer lets a node read only its
// own Node ("node 'x' cannot read all nodes, only its own Node object"),
// while the overlay must see every node's pod CIDR and annotations. This
// gives back to the group system:nodes what nodes could do before: get,
// list and watch Nodes, nothing more (flannel's service account holds the
// same). Writing stays limited: the Node authorizer allows a node to patch
// Nodes and the NodeRestriction admission plugin only its own.
const ClusterRoleName = "skiff:overlay"

// RBAC returns the ClusterRole and ClusterRoleBinding the overlay needs on
// the server.
func RBAC() (*rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding) {
	labels := map[string]string{"app.kubernetes.io/managed-by": "skiff"}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleName, Labels: labels},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""},
			Resources: []string{"nodes"},
			Verbs:     []string{"get", "list", "watch"},
		}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleName, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ClusterRoleName},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:nodes"}},
	}
	return role, binding
}

// EnsureRBAC creates the overlay's ClusterRole and ClusterRoleBinding, or
// puts them back as they should be. The server calls it with its admin
// client once the API server is up, before nodes need it; it is idempotent.
func EnsureRBAC(ctx context.Context, client kubernetes.Interface) error {
	role, binding := RBAC()
	roles := client.RbacV1().ClusterRoles()
	have, err := roles.Get(ctx, role.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := roles.Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating ClusterRole %s: %w", role.Name, err)
		}
	case err != nil:
		return fmt.Errorf("reading ClusterRole %s: %w", role.Name, err)
	case !reflect.DeepEqual(have.Rules, role.Rules):
		have.Rules = role.Rules
		if _, err := roles.Update(ctx, have, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating ClusterRole %s: %w", role.Name, err)
		}
	}
	bindings := client.RbacV1().ClusterRoleBindings()
	hb, err := bindings.Get(ctx, binding.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := bindings.Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating ClusterRoleBinding %s: %w", binding.Name, err)
		}
	case err != nil:
		return fmt.Errorf("reading ClusterRoleBinding %s: %w", binding.Name, err)
	case hb.RoleRef != binding.RoleRef:
		// roleRef cannot change: make the binding anew.
		if err := bindings.Delete(ctx, binding.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replacing ClusterRoleBinding %s: %w", binding.Name, err)
		}
		if _, err := bindings.Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("replacing ClusterRoleBinding %s: %w", binding.Name, err)
		}
	case !reflect.DeepEqual(hb.Subjects, binding.Subjects):
		hb.Subjects = binding.Subjects
		if _, err := bindings.Update(ctx, hb, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating ClusterRoleBinding %s: %w", binding.Name, err)
		}
	}
	return nil
}
