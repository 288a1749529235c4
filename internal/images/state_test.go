package images

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTarballs(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.tar", "a.tar.gz", "c.tgz", "d.tar.zst", "notes.txt", ".hidden.tar", "e.tar.bz2"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "dir.tar"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := tarballs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, filepath.Base(s.Key))
	}
	want := []string{"a.tar.gz", "b.tar", "c.tgz", "d.tar.zst"}
	if len(names) != len(want) {
		t.Fatalf("got %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("got %v, want %v", names, want)
		}
	}
	if none, err := tarballs(filepath.Join(dir, "missing")); err != nil || len(none) != 0 {
		t.Fatalf("missing dir: %v, %v", none, err)
	}
}

func TestStateRoundTripAndChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	src := source{Key: "/x/a.tar", Size: 10, MTime: time.Now().UnixNano()}
	st := loadState(path)
	if _, ok := st.unchanged(src); ok {
		t.Fatal("empty state says unchanged")
	}
	st[src.Key] = record{Size: src.Size, MTime: src.MTime, Images: []string{"docker.io/library/a:1"}}
	if err := st.save(path); err != nil {
		t.Fatal(err)
	}
	st = loadState(path)
	if names, ok := st.unchanged(src); !ok || len(names) != 1 {
		t.Fatalf("reloaded state: %v %v", names, ok)
	}
	changed := src
	changed.MTime++
	if _, ok := st.unchanged(changed); ok {
		t.Fatal("a touched file counts as unchanged")
	}
	changed = src
	changed.Size++
	if _, ok := st.unchanged(changed); ok {
		t.Fatal("a resized file counts as unchanged")
	}
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(loadState(path)) != 0 {
		t.Fatal("a damaged state file should read as empty")
	}
}

func TestOpenTarballDetectsCompression(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "p.tar")
	if err := os.WriteFile(plain, []byte("plain"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := openTarball(plain)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	if _, err := r.Read(b); err != nil || string(b) != "plain" {
		t.Fatalf("read %q, %v", b, err)
	}
	r.Close()
	bad := filepath.Join(dir, "bad.tar.gz")
	if err := os.WriteFile(bad, []byte{0x1f, 0x8b, 0, 0}, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openTarball(bad); err == nil {
		t.Fatal("a broken gzip should fail to open")
	}
}
