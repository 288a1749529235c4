package deploy

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// names lists "Kind name" of each object.
func names(objs []*unstructured.Unstructured) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.GetKind()+" "+o.GetName())
	}
	return strings.Join(s, ", ")
}

func mustParse(t *testing.T, name, content string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := parseManifest(name, []byte(content))
	if err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
	return objs
}

// parseErr parses content that must not parse and returns the error.
func parseErr(t *testing.T, name, content string) *ParseError {
	t.Helper()
	objs, err := parseManifest(name, []byte(content))
	if err == nil {
		t.Fatalf("%s parsed (%s); want an error", name, names(objs))
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	return pe
}

func TestSplitYAMLLines(t *testing.T) {
	data := "# head\na: 1\n---\nb: 2\n--- # a comment\n\n---   \nc: 3\n--- {inline: no}\nd: 4\n----\ne: 5"
	docs := splitYAML([]byte(data))
	var got []string
	for _, d := range docs {
		got = append(got, strings.ReplaceAll(string(d.text), "\n", "|")+"@"+strconv.Itoa(d.line))
	}
	want := []string{"# head|a: 1|@1", "b: 2|@4", "|@6", "c: 3|--- {inline: no}|d: 4|----|e: 5@8"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("splitYAML:\n got %q\nwant %q", got, want)
	}
}

func TestParseYAMLDocuments(t *testing.T) {
	objs := mustParse(t, "a.yaml", `# leading comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: first
data:
  n: "1"
---
--- # an empty document, then one of comments only
# nothing here
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  replicas: 3
...
`)
	if got := names(objs); got != "ConfigMap first, Deployment web" {
		t.Fatalf("objects = %s", got)
	}
	if n, ok, _ := unstructured.NestedInt64(objs[1].Object, "spec", "replicas"); !ok || n != 3 {
		t.Errorf("spec.replicas = %v (found %v); want the integer 3", n, ok)
	}
	if objs[1].GetNamespace() != "apps" || objs[0].GetNamespace() != "" {
		t.Errorf("namespaces %q, %q; want them as written", objs[0].GetNamespace(), objs[1].GetNamespace())
	}
}

func TestParseEmptyFiles(t *testing.T) {
	for _, content := range []string{"", "\n\n", "# only a comment\n", "---\n---\n", "null\n"} {
		if objs := mustParse(t, "e.yaml", content); len(objs) != 0 {
			t.Errorf("%q gave %s; want nothing", content, names(objs))
		}
	}
}

func TestParseByteOrderMarkAndCRLF(t *testing.T) {
	content := "\xef\xbb\xbfapiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n---\r\napiVersion: v1\r\nkind: Secret\r\nmetadata:\r\n  name: b\r\n"
	if got := names(mustParse(t, "w.yaml", content)); got != "ConfigMap a, Secret b" {
		t.Errorf("objects = %s", got)
	}
}

// The line of a YAML error counts from the top of the file, not of the
// document it is in.
func TestParseYAMLErrorLines(t *testing.T) {
	const two = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n---\n" // 10 lines
	cases := []struct {
		name, third string
		line        int
		msg         string
	}{
		{"mapping in a value", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c: d\n", 14, "mapping values are not allowed"},
		{"tab indent", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: c\n", 14, "found character that cannot start any token"},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  name: d\n", 15, `key "name" already set in map`},
		{"bad indent", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n labels: {}\n", 15, "did not find expected key"},
		{"unclosed quote", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"c\n", 14, "found unexpected end of stream"},
		{"unclosed flow", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c\n\n", 13, "did not find expected ',' or '}'"},
		{"first line", "kind: a: b\n", 11, "mapping values are not allowed"},
		{"sequence in a mapping", "a: 1\nb: 2\n- c\n", 13, "did not find expected key"},
		{"deep indent", "a:\n  b:\n    c: 1\n    d: 2\n  e: 3\n   f: 4\n", 16, "mapping values are not allowed"},
		{"unclosed sequence", "a: [1, 2\nb: 3\n", 12, "did not find expected ',' or ']'"},
		{"end of stream after comments", "apiVersion: v1\nkind: \"x\n# trailing\n\n", 12, "found unexpected end of stream"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pe := parseErr(t, "bad.yaml", two+c.third)
			if c.line != 0 && pe.Line != c.line {
				t.Errorf("line %d (%s); want %d", pe.Line, pe.Msg, c.line)
			}
			if !strings.Contains(pe.Msg, c.msg) || strings.Contains(pe.Msg, "\n") ||
				strings.Contains(pe.Msg, "line ") || strings.HasPrefix(pe.Msg, "yaml:") || strings.HasPrefix(pe.Msg, "error converting") {
				t.Errorf("message %q; want one line with %q and no prefixes or line numbers", pe.Msg, c.msg)
			}
			if pe.Line < 11 {
				t.Errorf("line %d is in the documents that parse", pe.Line)
			}
		})
	}
}

func TestParseObjectErrors(t *testing.T) {
	cases := []struct {
		name, content string
		line          int
		msg           string
	}{
		{"no kind", "# c\n\napiVersion: v1\nmetadata: {name: a}\n", 3, "kind is missing"},
		{"no apiVersion", "kind: ConfigMap\nmetadata: {name: a}\n", 1, "apiVersion is missing (kind ConfigMap)"},
		{"no metadata", "apiVersion: v1\nkind: ConfigMap\n", 1, "ConfigMap has no metadata"},
		{"no name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n", 1, "ConfigMap has no metadata.name"},
		{"generateName", "apiVersion: v1\nkind: Pod\nmetadata: {generateName: x-}\n", 1, "generateName cannot be used"},
		{"scalar", "kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\n---\njust words\n", 5, "not a string"},
		{"sequence", "- a\n- b\n", 1, "not a list"},
		{"namespace type", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: 3}\n", 1, "metadata.namespace must be a string, not a number"},
		{"kind type", "apiVersion: v1\nkind: 3\nmetadata: {name: a}\n", 1, "kind is missing"},
		{"apiVersion form", "apiVersion: a/b/c\nkind: X\nmetadata: {name: a}\n", 1, `apiVersion "a/b/c" of the X is not group/version`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pe := parseErr(t, "o.yaml", c.content)
			if pe.Line != c.line || !strings.Contains(pe.Msg, c.msg) {
				t.Errorf("got line %d %q; want line %d %q", pe.Line, pe.Msg, c.line, c.msg)
			}
		})
	}
}

func TestParseLists(t *testing.T) {
	objs := mustParse(t, "l.yaml", `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: v1
  kind: List
  items:
  - apiVersion: v1
    kind: Secret
    metadata: {name: nested}
---
apiVersion: v1
kind: ConfigMapList
items:
- metadata: {name: typed}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: explicit}
---
apiVersion: v1
kind: List
items: null
---
apiVersion: apps/v1
kind: DeploymentList
items: []
`)
	if got := names(objs); got != "ConfigMap a, Secret nested, ConfigMap typed, ConfigMap explicit" {
		t.Fatalf("objects = %s", got)
	}
	if objs[2].GetAPIVersion() != "v1" {
		t.Errorf("a typed list's item got apiVersion %q, want the list's", objs[2].GetAPIVersion())
	}

	// A kind that only ends in List, without items, is an object.
	if got := names(mustParse(t, "w.yaml", "apiVersion: x.io/v1\nkind: WaitList\nmetadata: {name: w}\n")); got != "WaitList w" {
		t.Errorf("objects = %s; want the WaitList itself", got)
	}

	for _, c := range []struct{ content, msg string }{
		{"apiVersion: v1\nkind: List\nitems: {a: b}\n", "the items of a List must be a list, not an object"},
		{"apiVersion: v1\nkind: List\nitems: [3]\n", "item 1 of the List: an item must be an object, not a number"},
		{"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- kind: ConfigMap\n", "item 2 of the List: apiVersion is missing"},
		{"apiVersion: v1\nkind: List\nitems:\n- kind: ConfigMap\n  apiVersion: v1\n", "item 1 of the List: ConfigMap has no metadata"},
	} {
		pe := parseErr(t, "l.yaml", c.content)
		if !strings.Contains(pe.Msg, c.msg) || pe.Line != 1 {
			t.Errorf("%q: got line %d %q; want line 1 %q", c.content, pe.Line, pe.Msg, c.msg)
		}
	}

	deep := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bottom}\n"
	for range maxListDepth + 1 {
		deep = "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSuffix(deep, "\n"), "\n", "\n  ") + "\n"
	}
	if pe := parseErr(t, "deep.yaml", deep); !strings.Contains(pe.Msg, "nested more than") {
		t.Errorf("deep Lists: %q", pe.Msg)
	}
}

func TestParseJSON(t *testing.T) {
	objs := mustParse(t, "a.json", `{
  "apiVersion": "v1",
  "kind": "ConfigMap",
  "metadata": {"name": "a"},
  "data": {"k": "v"}
}
{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
]}
null
`)
	if got := names(objs); got != "ConfigMap a, Secret s" {
		t.Fatalf("objects = %s", got)
	}

	// A YAML file may hold JSON.
	if got := names(mustParse(t, "j.yaml", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}}`)); got != "ConfigMap y" {
		t.Errorf("JSON in a .yaml file: %s", got)
	}

	cases := []struct {
		name, content string
		line          int
		msg           string
	}{
		{"missing comma", "{\n  \"apiVersion\": \"v1\"\n  \"kind\": \"ConfigMap\"\n}\n", 3, "invalid character"},
		{"trailing comma", "{\"apiVersion\": \"v1\",\n \"kind\": \"ConfigMap\",\n}\n", 3, "invalid character '}'"},
		{"truncated", "{\"apiVersion\": \"v1\",\n \"kind\": \"ConfigMap\",\n", 2, "unexpected end of the file"},
		{"second value", "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}}\n\n  {\"kind\": \"ConfigMap\"}\n", 3, "apiVersion is missing"},
		{"array", "\n[1, 2]\n", 2, "not a list"},
		{"YAML in a .json file", "apiVersion: v1\nkind: ConfigMap\n", 1, "invalid character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pe := parseErr(t, "bad.json", c.content)
			if pe.Line != c.line || !strings.Contains(pe.Msg, c.msg) {
				t.Errorf("got line %d %q; want line %d %q", pe.Line, pe.Msg, c.line, c.msg)
			}
		})
	}
}

func TestLineAt(t *testing.T) {
	data := []byte("a\nbc\n\nd\n")
	for off, want := range map[int]int{0: 1, 1: 1, 2: 2, 4: 2, 5: 3, 6: 4, 8: 4, 99: 4} {
		if got := lineAt(data, off); got != want {
			t.Errorf("lineAt(%d) = %d, want %d", off, got, want)
		}
	}
	if got := lineAt([]byte("x"), 1); got != 1 {
		t.Errorf("lineAt past a file without a final newline = %d, want 1", got)
	}
}

func TestParseErrorString(t *testing.T) {
	if got := (&ParseError{Line: 7, Msg: "bad"}).Error(); got != "line 7: bad" {
		t.Errorf("Error() = %q", got)
	}
}
