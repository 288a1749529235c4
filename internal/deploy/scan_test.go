package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeTree makes files (path → content) under a new folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") { // a folder
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestScanFindsManifestsAtAnyDepth(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"coredns.yaml":              "a",
		"b.yml":                     "b",
		"c.json":                    "c",
		"UPPER.YAML":                "d",
		"apps/web/deploy.yaml":      "e",
		"apps/readme.md":            "not a manifest",
		"notes.txt":                 "not a manifest",
		"x.yaml.orig":               "not a manifest",
		".hidden.yaml":              "hidden",
		".git/config.yaml":          "in a hidden folder",
		"apps/.cache/deep/x.yaml":   "in a hidden folder",
		"apps/.coredns.yaml.tmp-12": "a temporary file",
	})
	tr, err := scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"UPPER.YAML", "apps/web/deploy.yaml", "b.yml", "c.json", "coredns.yaml"}
	if got := keys(tr.files); !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	if !tr.complete || len(tr.skipped) != 0 {
		t.Errorf("complete = %v, skipped = %v; want a complete tree with nothing skipped", tr.complete, tr.skipped)
	}
	if st := tr.files["b.yml"]; st.size != 1 || st.ino == 0 || st.mtime == 0 {
		t.Errorf("stat of b.yml = %+v", st)
	}
}

func TestScanSkipMarkers(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"coredns.yaml":             "a",
		"coredns.yaml.skip":        "",
		"gone.yaml.skip":           "", // the manifest was deleted, the marker stays
		"apps/web.yaml":            "b",
		"web.yaml.skip":            "", // not beside apps/web.yaml
		"apps/db.json":             "c",
		"apps/db.json.skip":        "",
		"notes.txt.skip":           "", // not a manifest's marker
		".hidden.yaml.skip":        "",
		"local-storage.yaml.skip/": "", // a folder named like a marker is no marker
	})
	tr, err := scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"apps/db.json", "coredns.yaml", "gone.yaml", "web.yaml"}
	if got := keys(tr.skipped); !slices.Equal(got, want) {
		t.Errorf("skipped = %v, want %v", got, want)
	}
	// Skipped manifests are still listed as files: their state (present or
	// gone) matters to what is pruned.
	if _, ok := tr.files["coredns.yaml"]; !ok {
		t.Error("coredns.yaml is not listed though it exists")
	}
}

func TestScanLinks(t *testing.T) {
	dir := writeTree(t, map[string]string{"real/a.yaml": "a"})
	other := writeTree(t, map[string]string{"b.yaml": "b", "sub/c.yaml": "c"})
	for link, target := range map[string]string{
		"linked.yaml":   filepath.Join(other, "b.yaml"),
		"dangling.yaml": filepath.Join(other, "missing.yaml"),
		"linkdir":       filepath.Join(other, "sub"),
		"folder.yaml":   filepath.Join(other, "sub"),
		"loop":          dir,
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"linked.yaml", "real/a.yaml"}
	if got := keys(tr.files); !slices.Equal(got, want) || !tr.complete {
		t.Errorf("files = %v (complete %v), want %v: a link to a file counts, one to a folder is not followed, a dangling one is nothing", got, tr.complete, want)
	}

	// The folder itself may be a link.
	root := filepath.Join(t.TempDir(), "manifests")
	if err := os.Symlink(dir, root); err != nil {
		t.Fatal(err)
	}
	tr, err = scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(tr.files); !slices.Equal(got, want) {
		t.Errorf("through a linked folder: files = %v, want %v", got, want)
	}
}

func TestScanMissingFolderIsIncomplete(t *testing.T) {
	tr, err := scan(filepath.Join(t.TempDir(), "nope"))
	if err == nil || tr.complete {
		t.Fatalf("scan of a missing folder: complete %v, err %v; want an incomplete tree and an error", tr.complete, err)
	}
	if !strings.Contains(err.Error(), "manifests folder") {
		t.Errorf("error %q does not say what was read", err)
	}
}

func TestScanUnreadableFolderIsIncomplete(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any folder whatever its mode; the missing-folder test covers incomplete trees")
	}
	dir := writeTree(t, map[string]string{"a.yaml": "a", "locked/b.yaml": "b"})
	locked := filepath.Join(dir, "locked")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	tr, err := scan(dir)
	if err == nil || tr.complete {
		t.Fatalf("complete %v, err %v; want an incomplete tree and an error", tr.complete, err)
	}
	if _, ok := tr.files["a.yaml"]; !ok {
		t.Error("a.yaml missing: the rest of the tree must still be read")
	}
}

func TestReadStable(t *testing.T) {
	dir := writeTree(t, map[string]string{"a.yaml": "kind: A\n"})
	path := filepath.Join(dir, "a.yaml")
	tr, err := scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := tr.files["a.yaml"]
	data, ok, err := readStable(path, st)
	if err != nil || !ok || string(data) != "kind: A\n" {
		t.Fatalf("readStable = %q, %v, %v; want the content, stable", data, ok, err)
	}
	// Written again after the scan: the content read may not be what the
	// scan saw, so it is not used.
	if err := os.WriteFile(path, []byte("kind: B, longer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := readStable(path, st); err != nil || ok {
		t.Errorf("after a write: ok %v, err %v; want not stable", ok, err)
	}
	// Same size and content, new modification time: also a change.
	if err := os.WriteFile(path, []byte("kind: A\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := readStable(path, st); ok {
		t.Error("a new modification time went unnoticed")
	}
	if _, _, err := readStable(filepath.Join(dir, "gone.yaml"), st); err == nil {
		t.Error("reading a missing file gave no error")
	}
}
