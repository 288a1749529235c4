package localstorage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// withUmask runs the test under a strict umask, as a hardened host may
// set, to check that the volume's mode does not depend on it. The umask is
// the process's: these tests do not run in parallel.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode()
}

func TestVolumeDirLifecycle(t *testing.T) {
	withUmask(t, 0o077)
	base := filepath.Join(t.TempDir(), "data", "storage")
	if err := ensureBase(base); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, base); got != fs.ModeDir|(BaseMode&^0o077) {
		// MkdirAll is subject to the umask: 0711 under 077 is 0700, and
		// that is fine (only the bind mount reaches the volume).
		t.Errorf("base mode = %v", got)
	}
	if err := ensureBase(base); err != nil {
		t.Errorf("ensureBase on an existing directory: %v", err)
	}

	const pv = "pvc-1234"
	dir := filepath.Join(base, pv+"_apps_data")
	if err := makeVolumeDir(base, pv, dir); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, dir); got != fs.ModeDir|0o777 {
		t.Fatalf("volume directory mode = %v, want drwxrwxrwx whatever the umask", got)
	}
	// The pod writes; skiff restarts between the directory and the volume
	// and makes it again: the data stays, the mode is put back.
	if err := os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "file"), []byte("data"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "sub", "deeper"), 0o500); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := makeVolumeDir(base, pv, dir); err != nil {
		t.Fatalf("making an existing volume directory again: %v", err)
	}
	if got := mode(t, dir); got != fs.ModeDir|0o777 {
		t.Errorf("mode after making it again = %v, want drwxrwxrwx", got)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "file")); err != nil || string(b) != "data" {
		t.Errorf("data after making it again: %q, %v", b, err)
	}

	// An empty-only removal leaves data.
	if removed, err := removeEmptyVolumeDir(base, pv, dir); removed || err != nil {
		t.Errorf("removeEmptyVolumeDir with data = %v, %v; want kept", removed, err)
	}

	// A symlink inside the volume pointing out of it: removal takes the
	// link, not what it points to.
	outside := filepath.Join(t.TempDir(), "precious")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := removeVolumeDir(base, pv, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("volume directory still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("removal followed a symlink out of the volume: %v", err)
	}
	if _, err := os.Stat(base); err != nil {
		t.Errorf("the base directory went too: %v", err)
	}
	if err := removeVolumeDir(base, pv, dir); err != nil {
		t.Errorf("removing a directory that is gone already: %v", err)
	}
}

func TestRemoveEmptyVolumeDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "pvc-1_ns_c")
	if err := makeVolumeDir(base, "pvc-1", dir); err != nil {
		t.Fatal(err)
	}
	if removed, err := removeEmptyVolumeDir(base, "pvc-1", dir); !removed || err != nil {
		t.Errorf("removeEmptyVolumeDir = %v, %v; want removed", removed, err)
	}
	if removed, err := removeEmptyVolumeDir(base, "pvc-1", dir); removed || err != nil {
		t.Errorf("removeEmptyVolumeDir on a missing directory = %v, %v; want nothing done", removed, err)
	}
}

// Paths that are not volume directories of the base are never removed,
// whatever a PersistentVolume says.
func TestRemoveVolumeDirRefusesOtherPaths(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "storage")
	victim := filepath.Join(root, "pvc-1_ns_c") // named right, but beside the base
	for _, d := range []string{base, victim, filepath.Join(base, "pvc-2_ns_c")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ pv, path string }{
		{"pvc-1", victim},
		{"pvc-1", base},
		{"pvc-1", base + "/../pvc-1_ns_c"},
		{"pvc-1", filepath.Join(base, "pvc-2_ns_c")},
	} {
		if err := removeVolumeDir(base, c.pv, c.path); err == nil {
			t.Errorf("removeVolumeDir(%s, %s) removed it", c.pv, c.path)
		}
		if _, err := removeEmptyVolumeDir(base, c.pv, c.path); err == nil {
			t.Errorf("removeEmptyVolumeDir(%s, %s) passed the check", c.pv, c.path)
		}
	}
	for _, d := range []string{base, victim, filepath.Join(base, "pvc-2_ns_c")} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s is gone: %v", d, err)
		}
	}
}

// Something in the volume's place that is not a directory is neither used
// nor changed: a symlink is not followed (its target keeps its mode).
func TestMakeVolumeDirRefusesSymlink(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(t.TempDir(), "etc")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "pvc-1_ns_c")
	if err := os.Symlink(target, dir); err != nil {
		t.Fatal(err)
	}
	if err := makeVolumeDir(base, "pvc-1", dir); err == nil {
		t.Error("makeVolumeDir used a symlink in the volume's place")
	}
	if got := mode(t, target); got != fs.ModeDir|0o755 {
		t.Errorf("the symlink's target changed mode to %v", got)
	}
	file := filepath.Join(base, "pvc-2_ns_c")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := makeVolumeDir(base, "pvc-2", file); err == nil {
		t.Error("makeVolumeDir used a file in the volume's place")
	}
}

func TestEnsureBaseRefusesFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "storage")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ensureBase(file); err == nil {
		t.Error("ensureBase accepted a file")
	}
}
