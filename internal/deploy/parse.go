package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// ParseError says why a manifest does not parse and where: Line counts
// from the first line of the file, whatever document it is in.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// maxListDepth bounds Lists within Lists.
const maxListDepth = 8

// parseManifest returns the objects the manifest file name declares, in
// the order it declares them, each a fresh map that the caller may change.
// A .json file holds one or more JSON values; any other file YAML
// documents separated by "---" lines. Empty documents are skipped; every
// other document must be an object with apiVersion, kind and a
// metadata.name, or a List of such objects. The error is a *ParseError.
func parseManifest(name string, data []byte) ([]*unstructured.Unstructured, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return parseJSON(data)
	}
	return parseYAML(data)
}

// document is one YAML document of a file: its text and the file's line it
// starts on.
type document struct {
	line int
	text []byte
}

// splitYAML cuts data at its document separators: lines that start with
// "---" followed by nothing but blanks or a comment, as Kubernetes'
// YAML reader cuts them. "--- {a: 1}" does not separate (nor does it
// there).
func splitYAML(data []byte) []document {
	var docs []document
	start, startLine := 0, 1
	line := 1
	for off := 0; off < len(data); line++ {
		next := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		if isSeparator(data[off:next]) {
			docs = append(docs, document{line: startLine, text: data[start:off]})
			start, startLine = next, line+1
		}
		off = next
	}
	return append(docs, document{line: startLine, text: data[start:]})
}

func isSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	rest := bytes.TrimSpace(line[3:])
	return len(rest) == 0 || rest[0] == '#'
}

// firstContentLine is the file's line of the first line of doc that is
// neither blank nor a comment, or 0 when there is none (an empty
// document).
func firstContentLine(doc document) int {
	for i, l := range bytes.Split(doc.text, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' && string(l) != "..." {
			return doc.line + i
		}
	}
	return 0
}

func parseYAML(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, doc := range splitYAML(data) {
		first := firstContentLine(doc)
		if first == 0 {
			continue
		}
		// Strict: a key given twice in a mapping is an error here, as
		// kubectl's strict field validation makes it one on the server.
		js, err := yaml.YAMLToJSONStrict(doc.text)
		if err != nil {
			return nil, yamlError(doc, first, err)
		}
		var v any
		if err := utiljson.Unmarshal(js, &v); err != nil {
			return nil, &ParseError{Line: first, Msg: err.Error()}
		}
		got, err := objectsOf(v)
		if err != nil {
			return nil, &ParseError{Line: first, Msg: err.Error()}
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// yamlLine finds the line the YAML parser names in its message ("yaml:
// line 3: mapping values are not allowed in this context").
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// yamlError turns the YAML parser's error for doc into a ParseError on the
// file's line. The parser counts from the document's first line, from 1
// for errors its scanner finds and from 0 for those its parser finds
// (go-yaml v2, under sigs.k8s.io/yaml); a line past the document's last
// line of content (an error at the end of the stream) becomes that line,
// and a message without a line goes on the first.
func yamlError(doc document, first int, err error) *ParseError {
	msg := err.Error()
	for _, prefix := range []string{"error converting YAML to JSON: ", "yaml: ", "unmarshal errors:"} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	// Several errors come one a line; the first is the one to fix first.
	msg = strings.TrimSpace(msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	line := first
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		msg = msg[len(m[0]):]
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			if isParserProblem(msg) {
				n++
			}
			line = min(doc.line+n-1, lastContentLine(doc))
		}
	}
	return &ParseError{Line: line, Msg: msg}
}

// isParserProblem says whether a go-yaml message comes from its parser,
// which reports lines counted from 0, rather than its scanner (from 1).
func isParserProblem(msg string) bool {
	for _, p := range []string{
		"did not find expected ',' or ']'",
		"did not find expected ',' or '}'",
		"did not find expected '-' indicator",
		"did not find expected <document start>",
		"did not find expected key",
		"did not find expected node content",
		"found duplicate %TAG directive",
		"found duplicate %YAML directive",
		"found incompatible YAML document",
		"found undefined tag handle",
	} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// lastContentLine is the file's line of the last line of doc that is
// neither blank nor a comment (doc.line if there is none).
func lastContentLine(doc document) int {
	last := doc.line
	for i, l := range bytes.Split(doc.text, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' {
			last = doc.line + i
		}
	}
	return last
}

func parseJSON(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		start := int(dec.InputOffset())
		for start < len(data) && isJSONSpace(data[start]) {
			start++
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, jsonError(data, err)
		}
		var v any
		if err := utiljson.Unmarshal(raw, &v); err != nil {
			return nil, &ParseError{Line: lineAt(data, start), Msg: err.Error()}
		}
		got, err := objectsOf(v)
		if err != nil {
			return nil, &ParseError{Line: lineAt(data, start), Msg: err.Error()}
		}
		objs = append(objs, got...)
	}
}

func isJSONSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// jsonError puts the JSON decoder's error on the line of the byte it
// stopped at; a file that ends too early, on its last line.
func jsonError(data []byte, err error) *ParseError {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		off := int(syntax.Offset)
		if off > 0 {
			off-- // Offset is just past the offending byte
		}
		return &ParseError{Line: lineAt(data, off), Msg: syntax.Error()}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ParseError{Line: lineAt(data, len(data)), Msg: "unexpected end of the file"}
	}
	return &ParseError{Line: 1, Msg: err.Error()}
}

// lineAt is the line (from 1) that holds data[off], or the last line when
// off is past the end.
func lineAt(data []byte, off int) int {
	if off > len(data) {
		off = len(data)
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	if off == len(data) && off > 0 && data[off-1] == '\n' {
		line-- // past a final newline is still the last line
	}
	return line
}

// objectsOf checks a decoded document and returns its objects: the
// document itself, the items of a List, or none for an empty document.
func objectsOf(v any) ([]*unstructured.Unstructured, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return expand(x, 0)
	default:
		return nil, fmt.Errorf("a document must be an object with apiVersion, kind and metadata, not %s", describe(x))
	}
}

func expand(m map[string]any, depth int) ([]*unstructured.Unstructured, error) {
	apiVersion, kind, err := typeOf(m)
	if err != nil {
		return nil, err
	}
	if isList(kind, m) {
		if depth >= maxListDepth {
			return nil, fmt.Errorf("Lists nested more than %d deep", maxListDepth)
		}
		return expandList(apiVersion, kind, m, depth)
	}
	md, ok := m["metadata"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s has no metadata", kind)
	}
	name, ok := md["name"].(string)
	if !ok || name == "" {
		return nil, fmt.Errorf("%s has no metadata.name (skiff applies objects by name; generateName cannot be used here)", kind)
	}
	if ns, ok := md["namespace"]; ok && ns != nil {
		if _, ok := ns.(string); !ok {
			return nil, fmt.Errorf("%s %s: metadata.namespace must be a string, not %s", kind, name, describe(ns))
		}
	}
	return []*unstructured.Unstructured{{Object: m}}, nil
}

func typeOf(m map[string]any) (apiVersion, kind string, err error) {
	kind, ok := m["kind"].(string)
	if !ok || kind == "" {
		return "", "", errors.New("kind is missing")
	}
	apiVersion, ok = m["apiVersion"].(string)
	if !ok || apiVersion == "" {
		return "", "", fmt.Errorf("apiVersion is missing (kind %s)", kind)
	}
	if _, err := schema.ParseGroupVersion(apiVersion); err != nil {
		return "", "", fmt.Errorf("apiVersion %q of the %s is not group/version or version", apiVersion, kind)
	}
	return apiVersion, kind, nil
}

// isList says whether an object is a list to expand: kind List (v1), or a
// typed list such as ConfigMapList with its items.
func isList(kind string, m map[string]any) bool {
	if kind == "List" {
		return true
	}
	_, hasItems := m["items"]
	return strings.HasSuffix(kind, "List") && hasItems
}

func expandList(apiVersion, kind string, m map[string]any, depth int) ([]*unstructured.Unstructured, error) {
	raw, ok := m["items"]
	if !ok || raw == nil {
		return nil, nil
	}
	items, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("the items of a %s must be a list, not %s", kind, describe(raw))
	}
	var objs []*unstructured.Unstructured
	for i, it := range items {
		im, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d of the %s: an item must be an object, not %s", i+1, kind, describe(it))
		}
		// A typed list's items may leave out what the list says.
		if kind != "List" {
			if _, ok := im["kind"]; !ok {
				im["kind"] = strings.TrimSuffix(kind, "List")
			}
			if _, ok := im["apiVersion"]; !ok {
				im["apiVersion"] = apiVersion
			}
		}
		got, err := expand(im, depth+1)
		if err != nil {
			return nil, fmt.Errorf("item %d of the %s: %w", i+1, kind, err)
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// describe names the JSON type of v for a message.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64, json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
