package deploy

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestLabelled(t *testing.T) {
	o := obj("apps/v1", "Deployment", "", "web")
	o.SetLabels(map[string]string{"app": "web"})
	u := labelled(o, "apps/web.yaml")
	if got := u.GetLabels(); got["app"] != "web" || got[ManifestLabel] != LabelValue("apps/web.yaml") {
		t.Errorf("labels %v", got)
	}
	if got := u.GetAnnotations()[PathAnnotation]; got != "apps/web.yaml" {
		t.Errorf("annotation %q", got)
	}
	if _, ok := o.GetLabels()[ManifestLabel]; ok || o.GetAnnotations() != nil {
		t.Error("labelled changed the parsed object; it must copy it (a retry starts from the file's content)")
	}
	bare := labelled(obj("v1", "ConfigMap", "", "c"), "c.yaml")
	if bare.GetLabels()[ManifestLabel] != "c.yaml" || bare.GetAnnotations()[PathAnnotation] != "c.yaml" {
		t.Errorf("an object without labels or annotations: %v %v", bare.GetLabels(), bare.GetAnnotations())
	}
}

func TestCRDStatus(t *testing.T) {
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "widgets.example.com"},
		"spec": map[string]any{
			"group": "example.com",
			"names": map[string]any{"kind": "Widget", "plural": "widgets"},
		},
	}}
	if crdEstablished(crd) {
		t.Error("a CRD without status is not established")
	}
	if gk := crdKind(crd); gk.Group != "example.com" || gk.Kind != "Widget" {
		t.Errorf("crdKind = %v", gk)
	}
	crd.Object["status"] = map[string]any{"conditions": []any{
		map[string]any{"type": "NamesAccepted", "status": "True"},
		map[string]any{"type": "Established", "status": "False"},
	}}
	if crdEstablished(crd) {
		t.Error("Established False counts as established")
	}
	crd.Object["status"].(map[string]any)["conditions"].([]any)[1].(map[string]any)["status"] = "True"
	if !crdEstablished(crd) {
		t.Error("Established True does not count")
	}
}
