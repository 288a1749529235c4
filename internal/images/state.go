package images

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// source is one thing to import: a tarball, or the embedded pause image.
type source struct {
	Key   string // the file's path, or "embedded:<name>"
	Size  int64
	MTime int64 // UnixNano; for embedded bytes, a hash of them
}

// record is what the state file keeps about one successful import.
type record struct {
	Size   int64    `json:"size"`
	MTime  int64    `json:"mtime"`
	Images []string `json:"images"`
}

// state is the state file: what was imported, keyed by source.
type state map[string]record

func loadState(path string) state {
	s := state{}
	data, err := os.ReadFile(path)
	if err != nil {
		return s
	}
	if json.Unmarshal(data, &s) != nil {
		return state{} // a damaged file only costs a re-import
	}
	return s
}

func (s state) save(path string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFile(path, data, 0o600)
}

// unchanged returns the images src gave when it was last imported, if it
// has not changed since.
func (s state) unchanged(src source) ([]string, bool) {
	r, ok := s[src.Key]
	if !ok || r.Size != src.Size || r.MTime != src.MTime {
		return nil, false
	}
	return r.Images, true
}

// tarballSuffixes are the files ImagesDir may hold.
var tarballSuffixes = []string{".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd"}

// tarballs lists the image tarballs in dir, sorted by name. A missing dir
// holds none.
func tarballs(dir string) ([]source, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []source
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !hasTarballSuffix(name) {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p) // follows links, as users link images in
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, source{Key: p, Size: fi.Size(), MTime: fi.ModTime().UnixNano()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func hasTarballSuffix(name string) bool {
	for _, s := range tarballSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}
