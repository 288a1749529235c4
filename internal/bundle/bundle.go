package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/bundle/archive"
	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// markerFile records the size, mode and time of each unpacked file once all
// were unpacked and checked (see archive.Unpack).
const markerFile = ".skiff-verified"

// LinkNames are the names in the bin folder that are symlinks to the skiff
// binary, which answers to each of them.
func LinkNames() []string {
	return []string{"crictl", "ctr", "kubectl"}
}

// Unpack makes sure the bundle archive whose sha256 in hex is id is
// unpacked at <dataDir>/data/<id>, with <dataDir>/data/current pointing to
// it, and returns its bin folder. load gives the archive's bytes; it is
// called only when the folder is missing or damaged. The id comes from the
// build: hashing the archive at every start (34 MB embedded, ~60 MB in a
// release's launcher) cost ~30 ms here and more on boards without SHA
// instructions, and faulted all of it into memory. What is unpacked is
// still checked, against zstd's checksum (see archive.Unpack).
func Unpack(dataDir, id string, load func() ([]byte, error)) (binDir string, err error) {
	root := filepath.Join(dataDir, "data")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", root, err)
	}
	unlock, err := lock(filepath.Join(root, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	dir := filepath.Join(root, id)
	if err := verify(dir); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			klog.InfoS("Replacing a damaged bundle", "dir", dir, "reason", err)
		}
		data, err := load()
		if err != nil {
			return "", err
		}
		start := time.Now()
		if err := install(root, id, data); err != nil {
			return "", fmt.Errorf("unpacking the bundle into %s: %w", dir, err)
		}
		klog.InfoS("Unpacked the bundle", "dir", dir, "took", time.Since(start).Round(time.Millisecond))
	}
	if err := setCurrent(root, id); err != nil {
		return "", err
	}
	return filepath.Join(dir, archive.BinDir), nil
}

// setCurrent points root/current at the bundle id and, when it pointed at
// another, root/previous at that one, as k3s does: tools started outside
// the agent (skiff crictl) find the bundle through current.
func setCurrent(root, id string) error {
	cur, err := os.Readlink(filepath.Join(root, "current"))
	if err == nil && cur == id {
		return nil
	}
	if err == nil && filepath.IsLocal(cur) {
		if err := replaceLink(filepath.Join(root, "previous"), cur); err != nil {
			return err
		}
	}
	return replaceLink(filepath.Join(root, "current"), id)
}

// replaceLink makes path a symlink to target, atomically.
func replaceLink(path, target string) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("linking %s to %s: %w", path, target, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("linking %s to %s: %w", path, target, err)
	}
	return nil
}

// lock takes an exclusive lock on path, so that two skiff processes sharing
// a data dir do not unpack at once.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// marker is the content of markerFile.
type marker struct {
	Files []markedFile `json:"files"`
}

type markedFile struct {
	Name  string      `json:"name"` // slash-separated, relative to the folder
	Size  int64       `json:"size"`
	Mode  fs.FileMode `json:"mode"`
	MTime int64       `json:"mtime"` // unix nanoseconds
}

// verify checks the unpacked folder dir against its marker. The error wraps
// fs.ErrNotExist when dir does not exist at all.
func verify(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(dir, markerFile))
	if err != nil {
		return fmt.Errorf("no verified marker: %v", errors.Unwrap(err)) // %v: dir exists, so not ErrNotExist
	}
	var m marker
	if err := json.Unmarshal(data, &m); err != nil || len(m.Files) == 0 {
		return fmt.Errorf("unreadable marker %s", markerFile)
	}
	for _, f := range m.Files {
		st, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil {
			return fmt.Errorf("%s: %v", f.Name, errors.Unwrap(err))
		}
		if !st.Mode().IsRegular() || st.Size() != f.Size || st.Mode().Perm() != f.Mode || st.ModTime().UnixNano() != f.MTime {
			return fmt.Errorf("%s changed since it was unpacked", f.Name)
		}
	}
	return nil
}

// install unpacks archive beside root/id, checks it, and renames it into
// place, replacing a damaged root/id.
func install(root, id string, data []byte) error {
	// Left by a crash or a kill while unpacking: we hold the lock, so no one
	// else is using them.
	stale, _ := filepath.Glob(filepath.Join(root, ".*.tmp-*"))
	for _, s := range stale {
		os.RemoveAll(s)
	}

	tmp, err := os.MkdirTemp(root, "."+id+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := unpack(tmp, data); err != nil {
		return err
	}

	dir := filepath.Join(root, id)
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("moving the damaged bundle aside: %w", err)
	}
	defer os.RemoveAll(old)
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return archive.SyncDir(root)
}

// unpack writes the archive under dst, checked, and then the marker.
func unpack(dst string, data []byte) error {
	names, err := archive.Unpack(dst, data)
	if err != nil {
		return err
	}
	var m marker
	for _, name := range names {
		if slices.Contains(LinkNames(), path.Base(name)) {
			return fmt.Errorf("the archive holds %s, which is skiff's own link of that name", name)
		}
		st, err := os.Lstat(filepath.Join(dst, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		m.Files = append(m.Files, markedFile{Name: name, Size: st.Size(), Mode: st.Mode().Perm(), MTime: st.ModTime().UnixNano()})
	}
	enc, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(dst, markerFile), enc, 0o644); err != nil {
		return err
	}
	return archive.SyncDir(dst)
}

// Link points each of LinkNames in bin to the running skiff binary,
// replacing links that point elsewhere (skiff was moved or upgraded).
func Link(bin string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the skiff binary: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return fmt.Errorf("finding the skiff binary: %w", err)
	}
	for _, name := range LinkNames() {
		p := filepath.Join(bin, name)
		if cur, err := os.Readlink(p); err == nil && cur == exe {
			continue
		}
		if err := replaceLink(p, exe); err != nil {
			return err
		}
	}
	return nil
}
