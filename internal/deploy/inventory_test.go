package deploy

import (
	"slices"
	"strings"
	"testing"
)

func ref(apiVersion, kind, ns, name string) ObjectRef {
	return ObjectRef{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name}
}

func TestSame(t *testing.T) {
	dep := ref("apps/v1", "Deployment", "default", "web")
	cases := []struct {
		b    ObjectRef
		same bool
	}{
		{dep, true},
		{ref("apps/v1beta1", "Deployment", "default", "web"), true}, // another version of the same object
		{ref("apps/v1", "Deployment", "", "web"), true},             // recorded before its namespace was known
		{ref("apps/v1", "Deployment", "other", "web"), false},
		{ref("extensions/v1beta1", "Deployment", "default", "web"), false}, // another group
		{ref("apps/v1", "StatefulSet", "default", "web"), false},
		{ref("apps/v1", "Deployment", "default", "web2"), false},
	}
	for _, c := range cases {
		if got := same(dep, c.b); got != c.same {
			t.Errorf("same(%v, %v) = %v, want %v", dep, c.b, got, c.same)
		}
		if got := same(c.b, dep); got != c.same {
			t.Errorf("same(%v, %v) = %v, want %v (not symmetric)", c.b, dep, got, c.same)
		}
	}
	if same(ref("v1", "ConfigMap", "", "a"), ref("v1", "ConfigMap", "kube-system", "a")) {
		t.Error("an empty namespace matches only default")
	}
}

func TestStaleAndUnion(t *testing.T) {
	old := []ObjectRef{
		ref("v1", "ConfigMap", "default", "keep"),
		ref("v1", "ConfigMap", "default", "drop"),
		ref("apps/v1beta2", "Deployment", "default", "web"),
		ref("v1", "Namespace", "", "gone"),
	}
	cur := []ObjectRef{
		ref("v1", "ConfigMap", "", "keep"),
		ref("apps/v1", "Deployment", "default", "web"),
		ref("v1", "Secret", "default", "new"),
	}
	got := stale(old, cur)
	want := []ObjectRef{ref("v1", "ConfigMap", "default", "drop"), ref("v1", "Namespace", "", "gone")}
	if !slices.Equal(got, want) {
		t.Errorf("stale = %v, want %v", got, want)
	}
	if len(stale(cur, cur)) != 0 || len(stale(nil, cur)) != 0 {
		t.Error("nothing is stale in a file that did not change")
	}

	u := union(old, cur)
	if len(u) != 5 {
		t.Fatalf("union = %v; want 5 objects", u)
	}
	// The newer version of a ref held by both wins.
	for _, r := range u {
		if r.Kind == "Deployment" && r.APIVersion != "apps/v1" {
			t.Errorf("union kept %v; want the current apps/v1", r)
		}
	}
	for _, r := range u {
		if r.Kind == "ConfigMap" && r.Name == "keep" && r.Namespace != "default" {
			t.Errorf("union kept %v; want the namespace the object was applied in", r)
		}
	}
	if u[0].Kind != "Namespace" {
		t.Errorf("union is not in apply order: %v", u)
	}
}

func TestSameRefs(t *testing.T) {
	a := []ObjectRef{ref("v1", "ConfigMap", "default", "a"), ref("v1", "Secret", "default", "b")}
	b := []ObjectRef{ref("v1", "Secret", "default", "b"), ref("v1", "ConfigMap", "default", "a")}
	if !sameRefs(a, b) {
		t.Error("order should not matter")
	}
	if sameRefs(a, a[:1]) || sameRefs(a, []ObjectRef{ref("v1", "ConfigMap", "", "a"), ref("v1", "Secret", "default", "b")}) {
		t.Error("a missing ref or another namespace must count as a change")
	}
	if !sameRefs(nil, []ObjectRef{}) {
		t.Error("nil and empty are the same")
	}
}

func TestEncodeDecodeRefs(t *testing.T) {
	refs := []ObjectRef{
		ref("apps/v1", "Deployment", "kube-system", "coredns"),
		ref("v1", "Namespace", "", "web"),
		ref("rbac.authorization.k8s.io/v1", "ClusterRole", "", "system:coredns"),
	}
	enc := encodeRefs(refs)
	if strings.Count(enc, "\n") != 3 || !strings.HasPrefix(enc, `{"apiVersion":"v1","kind":"Namespace","name":"web"}`) {
		t.Errorf("encoded:\n%s\nwant one JSON object a line, in apply order, no empty namespace", enc)
	}
	shuffled := []ObjectRef{refs[2], refs[0], refs[1]}
	if encodeRefs(shuffled) != enc {
		t.Error("the encoding depends on the order of the refs")
	}
	got, err := decodeRefs(enc)
	if err != nil || !sameRefs(got, refs) {
		t.Errorf("decoded %v, %v; want %v", got, err, refs)
	}
	if got, err := decodeRefs(""); err != nil || len(got) != 0 {
		t.Errorf("empty inventory: %v, %v", got, err)
	}
	if got, err := decodeRefs("\n" + enc + "\n\n"); err != nil || len(got) != 3 {
		t.Errorf("blank lines: %v, %v", got, err)
	}
	for _, bad := range []string{"not json\n", `{"kind":"ConfigMap","name":"a"}` + "\n", enc + "{\n"} {
		if _, err := decodeRefs(bad); err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("decodeRefs(%q): err %v; want one naming the line", bad, err)
		}
	}
}

func TestRefString(t *testing.T) {
	if s := ref("apps/v1", "Deployment", "kube-system", "coredns").String(); s != "Deployment kube-system/coredns" {
		t.Errorf("String() = %q", s)
	}
	if s := ref("v1", "Namespace", "", "web").String(); s != "Namespace web" {
		t.Errorf("String() = %q", s)
	}
}
