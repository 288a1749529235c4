package deploy

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// cluster is the controller's side of the API: it applies and deletes
// objects through one dynamic client, finds their resources with a
// RESTMapper built from discovery, and keeps the inventories. Its methods
// are the apply and prune paths that the end-to-end tests exercise against
// a real server. It is used by one goroutine at a time.
type cluster struct {
	dyn       dynamic.Interface
	core      kubernetes.Interface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
	namespace string // of the inventories

	// mayRefresh allows one refresh of discovery when a kind is unknown: a
	// CRD applied since the mapper last looked, say. beginPass sets it, so
	// that a manifest naming a kind that does not exist costs at most one
	// refresh a pass.
	mayRefresh bool
}

// crdResource is where CustomResourceDefinitions are served.
func crdResource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
}

func newCluster(cfg *rest.Config, namespace string) (*cluster, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the dynamic client: %w", err)
	}
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the discovery client: %w", err)
	}
	return &cluster{
		dyn:       dyn,
		core:      core,
		mapper:    restmapper.NewDeferredDiscoveryRESTMapperWithContext(memory.NewMemCacheClientWithContext(disc)),
		namespace: namespace,
	}, nil
}

func (k *cluster) beginPass() { k.mayRefresh = true }

// refresh forgets what discovery said, so the next mapping asks again.
func (k *cluster) refresh(ctx context.Context) { k.mapper.ResetWithContext(ctx) }

// mapping finds the resource of gvk; version "" takes the preferred one.
func (k *cluster) mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	var versions []string
	if gvk.Version != "" {
		versions = []string{gvk.Version}
	}
	m, err := k.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), versions...)
	if meta.IsNoMatchError(err) && k.mayRefresh {
		k.mayRefresh = false
		k.refresh(ctx)
		m, err = k.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), versions...)
	}
	return m, err
}

// resource returns the client for obj's resource in its namespace, which
// it sets: a namespaced object without one goes to "default", as kubectl
// puts it, and a cluster-wide one loses one it should not have.
func (k *cluster) resource(ctx context.Context, obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := k.mapping(ctx, gvk)
	if meta.IsNoMatchError(err) {
		return nil, fmt.Errorf("the API serves no kind %s in %s; apply its CustomResourceDefinition, or correct apiVersion and kind", gvk.Kind, gvk.GroupVersion())
	}
	if err != nil {
		return nil, fmt.Errorf("finding the resource of %s %s: %w", gvk.Kind, gvk.GroupVersion(), err)
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		obj.SetNamespace("")
		return k.dyn.Resource(m.Resource), nil
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(metav1.NamespaceDefault)
	}
	return k.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
}

// apply applies obj with server-side apply (field manager "skiff", forced:
// the manifests folder is the truth) and strict field validation (an
// unknown or duplicate field is an error, as kubectl makes it). It returns
// the object's ref with the namespace it went to.
func (k *cluster) apply(ctx context.Context, obj *unstructured.Unstructured) (ObjectRef, error) {
	ri, err := k.resource(ctx, obj)
	if err != nil {
		return refOf(obj), err
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		return refOf(obj), fmt.Errorf("encoding: %w", err)
	}
	_, err = ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		FieldManager:    FieldManager,
		Force:           ptr.To(true),
		FieldValidation: metav1.FieldValidationStrict,
	})
	return refOf(obj), err
}

// removal is what remove did.
type removal int

const (
	removed removal = iota // deleted (in the background)
	gone                   // there was nothing to delete
	kept                   // the object now belongs to another file or to the user
)

// remove deletes what ref names if it still carries label, the
// skiff.io/manifest value of the file that deployed it: an object that
// another file has applied since, or whose label a user changed to keep
// it, stays. Dependents go in the background, as kubectl deletes them. A
// kind the API no longer serves has nothing left to delete (deleting a
// CRD deletes its objects).
func (k *cluster) remove(ctx context.Context, ref ObjectRef, label string) (removal, error) {
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	m, err := k.mapping(ctx, gvk)
	if meta.IsNoMatchError(err) {
		// The recorded version may be gone while the kind is still
		// served in another.
		m, err = k.mapping(ctx, gvk.GroupKind().WithVersion(""))
	}
	if meta.IsNoMatchError(err) {
		return gone, nil
	}
	if err != nil {
		return kept, fmt.Errorf("finding the resource of %s: %w", ref, err)
	}
	var ri dynamic.ResourceInterface = k.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := ref.Namespace
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		ri = k.dyn.Resource(m.Resource).Namespace(ns)
	}
	live, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return gone, nil
	}
	if err != nil {
		return kept, fmt.Errorf("reading %s: %w", ref, err)
	}
	if live.GetLabels()[ManifestLabel] != label {
		return kept, nil
	}
	uid := live.GetUID()
	err = ri.Delete(ctx, ref.Name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	switch {
	case apierrors.IsNotFound(err):
		return gone, nil
	case apierrors.IsConflict(err):
		return kept, nil // replaced by a new object of the same name since read
	case err != nil:
		return kept, fmt.Errorf("deleting %s: %w", ref, err)
	}
	return removed, nil
}

// crdPoll is how often waitCRDs looks.
const crdPoll = 250 * time.Millisecond

// waitCRDs waits, up to timeout, until each of the CRDs named is
// Established and the API serves its kind, so that the custom resources
// of the same pass can be applied. It returns the names still not ready.
func (k *cluster) waitCRDs(ctx context.Context, names []string, timeout time.Duration) []string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := names
	for {
		var still []string
		refreshed := false
		for _, name := range pending {
			crd, err := k.dyn.Resource(crdResource()).Get(ctx, name, metav1.GetOptions{})
			if err != nil || !crdEstablished(crd) {
				still = append(still, name)
				continue
			}
			// Established, but discovery may lag behind: ask it again.
			if !refreshed {
				k.refresh(ctx)
				refreshed = true
			}
			if _, err := k.mapper.RESTMappingWithContext(ctx, crdKind(crd)); err != nil {
				still = append(still, name)
			}
		}
		pending = still
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return pending
		case <-time.After(crdPoll):
		}
	}
}

// crdEstablished says whether a CRD's Established condition is True.
func crdEstablished(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		cm, ok := c.(map[string]any)
		if ok && cm["type"] == "Established" && cm["status"] == "True" {
			return true
		}
	}
	return false
}

// crdKind is the kind a CRD defines.
func crdKind(crd *unstructured.Unstructured) schema.GroupKind {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	return schema.GroupKind{Group: group, Kind: kind}
}

// records lists the inventories. One that cannot be read is logged and
// left out: its file's objects are then neither claimed nor pruned.
func (k *cluster) records(ctx context.Context) (map[string]*record, error) {
	list, err := k.core.CoreV1().ConfigMaps(k.namespace).List(ctx, metav1.ListOptions{LabelSelector: InventoryLabel})
	if err != nil {
		return nil, fmt.Errorf("listing the manifests' inventories (ConfigMaps labelled %s in %s): %w", InventoryLabel, k.namespace, err)
	}
	out := map[string]*record{}
	for i := range list.Items {
		cm := &list.Items[i]
		path := cm.Data[inventoryPathKey]
		if path == "" {
			path = cm.Annotations[PathAnnotation]
		}
		refs, err := decodeRefs(cm.Data[inventoryObjectsKey])
		if path == "" || err != nil {
			klog.ErrorS(err, "Manifest inventory unreadable; the objects it lists are left alone: delete it to forget them",
				"configmap", k.namespace+"/"+cm.Name, "path", path)
			continue
		}
		out[path] = &record{path: path, name: cm.Name, uid: cm.UID, refs: refs}
	}
	return out, nil
}

// writeRecord creates or updates r's ConfigMap.
func (k *cluster) writeRecord(ctx context.Context, r *record) error {
	cm := corev1ac.ConfigMap(r.name, k.namespace).
		WithLabels(map[string]string{InventoryLabel: LabelValue(r.path)}).
		WithAnnotations(map[string]string{PathAnnotation: r.path}).
		WithData(map[string]string{inventoryPathKey: r.path, inventoryObjectsKey: encodeRefs(r.refs)})
	got, err := k.core.CoreV1().ConfigMaps(k.namespace).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("writing the inventory of %s (ConfigMap %s/%s): %w", r.path, k.namespace, r.name, err)
	}
	r.uid = got.UID
	return nil
}

// deleteRecord deletes r's ConfigMap.
func (k *cluster) deleteRecord(ctx context.Context, r *record) error {
	err := k.core.CoreV1().ConfigMaps(k.namespace).Delete(ctx, r.name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the inventory of %s (ConfigMap %s/%s): %w", r.path, k.namespace, r.name, err)
	}
	return nil
}

// recordRef is what Events about r's file are reported on.
func (k *cluster) recordRef(r *record) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: k.namespace, Name: r.name, UID: r.uid}
}
