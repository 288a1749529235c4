package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// skipSuffix, added to a manifest's name, makes the file that hands the
// manifest to the user (k3s's convention).
const skipSuffix = ".skip"

// fileStat is what tells that a file may have changed without reading it.
// The inode and change time catch a file replaced by rename or by a tool
// that keeps the modification time (some immutable stores pin it to the
// epoch, as k3s found).
type fileStat struct {
	size  int64
	mtime int64
	ctime int64
	ino   uint64
	dev   uint64
}

func statOf(fi fs.FileInfo) fileStat {
	s := fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ctime = st.Ctim.Nano()
		s.ino = st.Ino
		s.dev = uint64(st.Dev) //nolint:unconvert // Dev's type differs between architectures
	}
	return s
}

// tree is what one scan of the manifests folder found.
type tree struct {
	// files are the manifests, by path relative to the folder with "/"
	// separators, whether skipped or not.
	files map[string]fileStat
	// skipped are the manifest paths that have a .skip file beside them,
	// whether or not the manifest itself exists.
	skipped map[string]bool
	// complete is false when part of the tree could not be read: a file
	// missing from files may then still exist, and nothing is pruned.
	complete bool
}

// isManifest says whether a file name is one the controller applies.
func isManifest(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// scan walks dir. Names starting with a dot are left out, folders
// included. A symbolic link to a file counts as that file; one to a folder
// is not followed (a link back up the tree would never end). A folder
// that cannot be read makes the tree incomplete; the error says which.
func scan(dir string) (tree, error) {
	t := tree{files: map[string]fileStat{}, skipped: map[string]bool{}, complete: true}
	// The folder itself may be a link (to a folder kept elsewhere).
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.complete = false
		return t, fmt.Errorf("reading the manifests folder: %w", err)
	}
	var errs []error
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.complete = false
			errs = append(errs, err)
			if d != nil && d.IsDir() && path != root {
				return fs.SkipDir
			}
			return nil
		}
		if path == root {
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if strings.HasSuffix(name, skipSuffix) {
			if target := strings.TrimSuffix(name, skipSuffix); isManifest(target) {
				t.skipped[strings.TrimSuffix(rel, skipSuffix)] = true
			}
			return nil
		}
		if !isManifest(name) {
			return nil
		}
		fi, err := os.Stat(path) // follows a link to its file
		if err != nil {
			// Gone since the folder was read, or a dangling link: no
			// manifest. Anything else may hide one.
			if !errors.Is(err, fs.ErrNotExist) {
				t.complete = false
				errs = append(errs, err)
			}
			return nil
		}
		if fi.Mode().IsRegular() {
			t.files[rel] = statOf(fi)
		}
		return nil
	})
	if err != nil {
		t.complete = false
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return t, fmt.Errorf("reading the manifests folder %s: %w", dir, errors.Join(errs...))
	}
	return t, nil
}

// readStable reads path and returns its content if the file did not change
// while it was read (stat before and after agree); ok is false when it
// did: a writer is at work, and the next scan tries again rather than
// apply half a file.
func readStable(path string, before fileStat) (data []byte, ok bool, err error) {
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, false, err
	}
	return data, statOf(fi) == before && int64(len(data)) == before.size, nil
}
