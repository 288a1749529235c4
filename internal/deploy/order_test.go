package deploy

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(name)
	u.SetNamespace(ns)
	return u
}

func TestSortForApply(t *testing.T) {
	// As files might list them: workloads before what they need.
	items := []item{
		{file: "b.yaml", index: 0, obj: obj("apps/v1", "Deployment", "web", "web")},
		{file: "b.yaml", index: 1, obj: obj("v1", "Service", "web", "web")},
		{file: "b.yaml", index: 2, obj: obj("v1", "Namespace", "", "web")},
		{file: "a.yaml", index: 0, obj: obj("example.com/v1", "Widget", "web", "w")},
		{file: "a.yaml", index: 1, obj: obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com")},
		{file: "a.yaml", index: 2, obj: obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "check")},
		{file: "a.yaml", index: 3, obj: obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "crb")},
		{file: "a.yaml", index: 4, obj: obj("v1", "ServiceAccount", "web", "sa")},
		{file: "a.yaml", index: 5, obj: obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "cr")},
		{file: "c.yaml", index: 0, obj: obj("v1", "ConfigMap", "web", "cfg")},
		{file: "c.yaml", index: 1, obj: obj("storage.k8s.io/v1", "StorageClass", "", "local-path")},
		{file: "c.yaml", index: 2, obj: obj("apiregistration.k8s.io/v1", "APIService", "", "v1beta1.metrics.k8s.io")},
		{file: "c.yaml", index: 3, obj: obj("v1", "Secret", "web", "s")},
		{file: "a.yaml", index: 6, obj: obj("batch/v1", "Job", "web", "j")},
	}
	sortForApply(items)
	var got []string
	for _, it := range items {
		got = append(got, it.obj.GetKind())
	}
	want := "Namespace CustomResourceDefinition ClusterRoleBinding ClusterRole StorageClass ServiceAccount ConfigMap Secret Service Widget Job Deployment ValidatingWebhookConfiguration APIService"
	if strings.Join(got, " ") != want {
		t.Errorf("order:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestSortForDelete(t *testing.T) {
	refs := []ObjectRef{
		{APIVersion: "v1", Kind: "Namespace", Name: "web"},
		{APIVersion: "v1", Kind: "ConfigMap", Namespace: "web", Name: "cfg"},
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "web", Name: "web"},
		{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition", Name: "widgets.example.com"},
		{APIVersion: "example.com/v1", Kind: "Widget", Namespace: "web", Name: "w"},
		{APIVersion: "v1", Kind: "Service", Namespace: "web", Name: "web"},
	}
	sortForDelete(refs)
	var got []string
	for _, r := range refs {
		got = append(got, r.Kind)
	}
	// Workloads and custom resources first, then what they used,
	// namespaces last.
	want := "Deployment Widget Service ConfigMap CustomResourceDefinition Namespace"
	if strings.Join(got, " ") != want {
		t.Errorf("order:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestRankOfUnknownKinds(t *testing.T) {
	for _, gk := range []struct{ apiVersion, kind string }{
		{"v1", "Pod"}, {"apps/v1", "DaemonSet"}, {"example.com/v1", "Anything"}, {"networking.k8s.io/v1", "Ingress"},
	} {
		if r := rankOf(obj(gk.apiVersion, gk.kind, "", "x").GroupVersionKind().GroupKind()); r != rankWorkload {
			t.Errorf("%s %s: rank %d, want the workloads' %d", gk.apiVersion, gk.kind, r, rankWorkload)
		}
	}
}
