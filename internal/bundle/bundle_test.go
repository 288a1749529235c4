package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/internal/bundle/archive"
)

func testArchive(t *testing.T, runc string) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := archive.Write(&buf, []archive.File{
		{Name: "runc", Data: []byte(runc)},
		{Name: "bridge", Data: []byte("bridge plugin")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err = filepath.EvalSymlinks(exe)
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// extract is what the agent does with a bundle: unpack it, then link.
func extract(dataDir string, data []byte, id string) (string, error) {
	bin, err := Unpack(dataDir, id, func() ([]byte, error) { return data, nil })
	if err != nil {
		return "", err
	}
	return bin, Link(bin)
}

func mustExtract(t *testing.T, dataDir string, data []byte) string {
	t.Helper()
	bin, err := extract(dataDir, data, sha(data))
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExtractUnpacksAndLinks(t *testing.T) {
	dataDir := t.TempDir()
	data := testArchive(t, "runc v1")
	bin := mustExtract(t, dataDir, data)

	if want := filepath.Join(dataDir, "data", sha(data), "bin"); bin != want {
		t.Errorf("bin dir %s, want %s", bin, want)
	}
	if got := readString(t, filepath.Join(bin, "runc")); got != "runc v1" {
		t.Errorf("runc holds %q", got)
	}
	if st, err := os.Stat(filepath.Join(bin, "bridge")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("bridge: %v, %v", st, err)
	}
	exe := self(t)
	for _, name := range LinkNames() {
		if target, err := os.Readlink(filepath.Join(bin, name)); err != nil || target != exe {
			t.Errorf("%s -> %q (%v), want %s", name, target, err, exe)
		}
	}
	// Nothing but the lock and the bundle folder is left in data/.
	entries, _ := os.ReadDir(filepath.Join(dataDir, "data"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != ".lock "+sha(data)+" current" {
		t.Errorf("data/ holds %q", got)
	}
}

func TestExtractReusesAVerifiedBundle(t *testing.T) {
	dataDir := t.TempDir()
	data := testArchive(t, "runc v1")
	bin := mustExtract(t, dataDir, data)
	runc := filepath.Join(bin, "runc")
	before, _ := os.Stat(runc)
	time.Sleep(10 * time.Millisecond)
	mustExtract(t, dataDir, data)
	after, _ := os.Stat(runc)
	if !after.ModTime().Equal(before.ModTime()) || !os.SameFile(before, after) {
		t.Error("an intact bundle was unpacked again")
	}
}

func TestExtractReplacesADamagedBundle(t *testing.T) {
	for name, damage := range map[string]func(bin string) error{
		"truncated": func(bin string) error { return os.Truncate(filepath.Join(bin, "runc"), 3) },
		"removed":   func(bin string) error { return os.Remove(filepath.Join(bin, "bridge")) },
		"same size, other content": func(bin string) error {
			return os.WriteFile(filepath.Join(bin, "runc"), []byte("runc XX"), 0o755)
		},
		"mode": func(bin string) error { return os.Chmod(filepath.Join(bin, "runc"), 0o644) },
		"no marker": func(bin string) error {
			return os.Remove(filepath.Join(filepath.Dir(bin), markerFile))
		},
		"bad marker": func(bin string) error {
			return os.WriteFile(filepath.Join(filepath.Dir(bin), markerFile), []byte("{"), 0o644)
		},
		"empty folder": func(bin string) error {
			dir := filepath.Dir(bin)
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			return os.Mkdir(dir, 0o755)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dataDir := t.TempDir()
			data := testArchive(t, "runc v1")
			bin := mustExtract(t, dataDir, data)
			time.Sleep(10 * time.Millisecond) // so that a rewrite shows in the mtime
			if err := damage(bin); err != nil {
				t.Fatal(err)
			}
			if got := mustExtract(t, dataDir, data); got != bin {
				t.Errorf("bin dir %s, want %s", got, bin)
			}
			if got := readString(t, filepath.Join(bin, "runc")); got != "runc v1" {
				t.Errorf("runc holds %q after repair", got)
			}
			if got := readString(t, filepath.Join(bin, "bridge")); got != "bridge plugin" {
				t.Errorf("bridge holds %q after repair", got)
			}
			if err := verify(filepath.Dir(bin)); err != nil {
				t.Errorf("repaired bundle does not verify: %v", err)
			}
			leftovers, _ := filepath.Glob(filepath.Join(dataDir, "data", ".*.tmp-*"))
			if len(leftovers) > 0 {
				t.Errorf("left %v behind", leftovers)
			}
		})
	}
}

func TestExtractRelinksWhenSkiffMoved(t *testing.T) {
	dataDir := t.TempDir()
	data := testArchive(t, "runc v1")
	bin := mustExtract(t, dataDir, data)
	ctr := filepath.Join(bin, "ctr")
	os.Remove(ctr)
	if err := os.Symlink("/old/place/skiff", ctr); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(bin, "kubectl"))
	mustExtract(t, dataDir, data)
	for _, name := range []string{"ctr", "kubectl"} {
		if target, _ := os.Readlink(filepath.Join(bin, name)); target != self(t) {
			t.Errorf("%s -> %q, want %s", name, target, self(t))
		}
	}
}

func TestExtractKeepsTheOtherBundles(t *testing.T) {
	dataDir := t.TempDir()
	old := mustExtract(t, dataDir, testArchive(t, "runc v1"))
	cur := mustExtract(t, dataDir, testArchive(t, "runc v2"))
	if old == cur {
		t.Fatal("two bundles share a folder")
	}
	if readString(t, filepath.Join(old, "runc")) != "runc v1" || readString(t, filepath.Join(cur, "runc")) != "runc v2" {
		t.Error("the bundles' contents are mixed up")
	}
	data := filepath.Join(dataDir, "data")
	for link, want := range map[string]string{"current": cur, "previous": old} {
		if got := readString(t, filepath.Join(data, link, "bin", "runc")); got != readString(t, filepath.Join(want, "runc")) {
			t.Errorf("%s leads to runc %q, want %s", link, got, want)
		}
		if target, _ := os.Readlink(filepath.Join(data, link)); filepath.IsAbs(target) {
			t.Errorf("%s -> %s, want a link relative to data/", link, target)
		}
	}
	// Starting the current one again changes neither link.
	mustExtract(t, dataDir, testArchive(t, "runc v2"))
	if got := readString(t, filepath.Join(data, "previous", "bin", "runc")); got != "runc v1" {
		t.Errorf("previous leads to runc %q after a restart, want runc v1", got)
	}
}

func TestExtractCleansUpAfterACrash(t *testing.T) {
	dataDir := t.TempDir()
	data := testArchive(t, "runc v1")
	stale := filepath.Join(dataDir, "data", "."+sha(data)+".tmp-123")
	if err := os.MkdirAll(filepath.Join(stale, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustExtract(t, dataDir, data)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the half-unpacked %s is still there", stale)
	}
}

func TestExtractLeavesNothingOfACorruptArchive(t *testing.T) {
	dataDir := t.TempDir()
	data := testArchive(t, "runc v1")
	truncated := data[:len(data)-40]
	if _, err := extract(dataDir, truncated, sha(truncated)); err == nil {
		t.Fatal("want an error for a truncated archive")
	}
	entries, _ := os.ReadDir(filepath.Join(dataDir, "data"))
	if len(entries) != 1 || entries[0].Name() != ".lock" {
		t.Errorf("data/ holds %v after a failed unpack", entries)
	}
}

func TestExtractRefusesAFileNamedLikeALink(t *testing.T) {
	var buf bytes.Buffer
	if err := archive.Write(&buf, []archive.File{{Name: "kubectl", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := extract(t.TempDir(), buf.Bytes(), sha(buf.Bytes())); err == nil || !strings.Contains(err.Error(), "kubectl") {
		t.Errorf("got %v, want an error naming kubectl", err)
	}
}
