package deploy

import (
	"cmp"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The ranks objects are applied in, lowest first, and deleted in, highest
// first. Each rank holds what later ones may need to exist.
const (
	rankNamespace = iota
	rankCRD
	// Cluster-wide settings and RBAC: what pods and their service accounts
	// are checked against or bound to.
	rankCluster
	// What pods mount or run as, and what namespaced RBAC grants.
	rankConfig
	// Services before their workloads, so pods get their environment
	// variables.
	rankService
	// Workloads, custom resources and every kind not named here.
	rankWorkload
	// Webhooks and aggregated APIs last: one that points at a Service whose
	// pods are not up yet would make the apiserver refuse or stall the
	// requests it intercepts.
	rankWebhook
)

// rankOf places a kind in the apply order.
func rankOf(gk schema.GroupKind) int {
	switch gk.Group {
	case "":
		switch gk.Kind {
		case "Namespace":
			return rankNamespace
		case "ResourceQuota", "LimitRange", "PersistentVolume":
			return rankCluster
		case "ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim":
			return rankConfig
		case "Service", "Endpoints":
			return rankService
		}
	case "apiextensions.k8s.io":
		if gk.Kind == "CustomResourceDefinition" {
			return rankCRD
		}
	case "rbac.authorization.k8s.io":
		switch gk.Kind {
		case "ClusterRole", "ClusterRoleBinding":
			return rankCluster
		case "Role", "RoleBinding":
			return rankConfig
		}
	case "scheduling.k8s.io", "node.k8s.io", "storage.k8s.io":
		// PriorityClass, RuntimeClass, StorageClass, CSIDriver, ...
		return rankCluster
	case "networking.k8s.io":
		switch gk.Kind {
		case "IngressClass", "NetworkPolicy":
			return rankCluster
		}
	case "discovery.k8s.io":
		return rankService
	case "admissionregistration.k8s.io", "apiregistration.k8s.io":
		return rankWebhook
	}
	return rankWorkload
}

// item is one object of one manifest in a pass.
type item struct {
	file  string // path relative to the folder
	index int    // place in the file
	obj   *unstructured.Unstructured
}

func (it item) rank() int { return rankOf(it.obj.GroupVersionKind().GroupKind()) }

// sortForApply orders a pass's objects by rank, then by file and place in
// the file, so that equal ranks apply as the files declare them.
func sortForApply(items []item) {
	slices.SortStableFunc(items, func(a, b item) int {
		return cmp.Or(cmp.Compare(a.rank(), b.rank()), cmp.Compare(a.file, b.file), cmp.Compare(a.index, b.index))
	})
}

// sortForDelete orders references for deletion: highest rank first, so
// that workloads go before what they use and namespaces last.
func sortForDelete(refs []ObjectRef) {
	slices.SortStableFunc(refs, func(a, b ObjectRef) int {
		return cmp.Or(cmp.Compare(rankOf(b.groupKind()), rankOf(a.groupKind())),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
}
