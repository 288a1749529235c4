package deploy

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ObjectRef names an object a manifest declares, as its inventory records
// it. Namespace is the one the object was applied in; an object whose kind
// the API did not know keeps the namespace its manifest wrote, maybe none.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

func refOf(u *unstructured.Unstructured) ObjectRef {
	return ObjectRef{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

func (r ObjectRef) groupKind() schema.GroupKind {
	return schema.FromAPIVersionAndKind(r.APIVersion, r.Kind).GroupKind()
}

// String is how logs and Events name the object: "Deployment
// kube-system/coredns", "ClusterRole system:coredns".
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// same says whether a and b name one object. The version does not count
// (apps/v1beta1 and apps/v1 Deployments are the same object), and an empty
// namespace matches "default", where the API puts a namespaced object that
// names none: a ref recorded before its kind was known still matches the
// applied object.
func same(a, b ObjectRef) bool {
	if a.Name != b.Name || a.groupKind() != b.groupKind() {
		return false
	}
	if a.Namespace == b.Namespace {
		return true
	}
	return (a.Namespace == "" && b.Namespace == "default") || (a.Namespace == "default" && b.Namespace == "")
}

func containsRef(refs []ObjectRef, r ObjectRef) bool {
	return slices.ContainsFunc(refs, func(o ObjectRef) bool { return same(o, r) })
}

// stale returns the refs of old that current no longer declares: what to
// prune once current has applied.
func stale(old, current []ObjectRef) []ObjectRef {
	var out []ObjectRef
	for _, r := range old {
		if !containsRef(current, r) {
			out = append(out, r)
		}
	}
	return out
}

// union returns the refs of a and b, sorted. Of a ref that both hold, b's
// is kept (it is the newer), with a's namespace if b's is empty: b was
// parsed from the file, a recorded once the API had said where the object
// went.
func union(a, b []ObjectRef) []ObjectRef {
	out := slices.Clone(b)
	for _, r := range a {
		i := slices.IndexFunc(out, func(o ObjectRef) bool { return same(o, r) })
		switch {
		case i < 0:
			out = append(out, r)
		case out[i].Namespace == "":
			out[i].Namespace = r.Namespace
		}
	}
	sortRefs(out)
	return out
}

// sortRefs orders refs for a stable inventory: apply order, then names.
func sortRefs(refs []ObjectRef) {
	slices.SortFunc(refs, func(a, b ObjectRef) int {
		return cmp.Or(cmp.Compare(rankOf(a.groupKind()), rankOf(b.groupKind())),
			cmp.Compare(a.APIVersion, b.APIVersion), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// sameRefs says whether a and b hold exactly the same refs, versions
// included (an inventory that differs only in a version is rewritten, so
// the next deletion asks for a version the API serves).
func sameRefs(a, b []ObjectRef) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	sortRefs(a)
	sortRefs(b)
	return slices.Equal(a, b)
}

// Inventory ConfigMap keys.
const (
	inventoryPathKey    = "path"
	inventoryObjectsKey = "objects"
)

// encodeRefs writes refs one JSON object a line, in a stable order, so an
// inventory reads well with kubectl and changes only when its refs do.
func encodeRefs(refs []ObjectRef) string {
	refs = slices.Clone(refs)
	sortRefs(refs)
	var b strings.Builder
	for _, r := range refs {
		line, _ := json.Marshal(r) // four strings: cannot fail
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// decodeRefs reads what encodeRefs wrote.
func decodeRefs(s string) ([]ObjectRef, error) {
	var refs []ObjectRef
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r ObjectRef
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if r.APIVersion == "" || r.Kind == "" || r.Name == "" {
			return nil, fmt.Errorf("line %d: want apiVersion, kind and name", n)
		}
		refs = append(refs, r)
	}
	return refs, sc.Err()
}
