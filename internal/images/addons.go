package images

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// addonSuffix marks an addon image in Config.AddonImages, and sumSuffix the
// file beside it that holds its sha256.
const (
	addonSuffix = ".tar"
	sumSuffix   = ".sha256"
)

// addonImage is one embedded addon image to import.
type addonImage struct {
	path string // in Config.AddonImages
	source
}

// addonImages lists the addon images in fsys, sorted by path. Each one's
// source is keyed "embedded:<path>" and carries, as its change stamp, the
// first 64 bits of the sha256 recorded beside it at build time; only an
// image without that file is hashed here, which costs reading it whole
// (tens of megabytes, paged in from the binary) at every start.
func addonImages(fsys fs.FS) ([]addonImage, error) {
	if fsys == nil {
		return nil, nil
	}
	var out []addonImage
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, addonSuffix) {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		stamp, ok := readSum(fsys, path+sumSuffix)
		if !ok {
			data, err := fs.ReadFile(fsys, path)
			if err != nil {
				return err
			}
			stamp = hash64(data)
		}
		out = append(out, addonImage{path: path, source: source{Key: "embedded:" + path, Size: info.Size(), MTime: stamp}})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the embedded addon images: %w", err)
	}
	return out, nil // WalkDir walks in lexical order
}

// readSum reads a sha256 sum file (hex, then anything) and returns its
// first 64 bits, as hash64 would have computed them.
func readSum(fsys fs.FS, path string) (int64, bool) {
	data, err := fs.ReadFile(fsys, path)
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, false
	}
	sum, err := hex.DecodeString(fields[0])
	if err != nil || len(sum) != 32 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(sum[:8])), true
}

// openAddonImage opens the image tarball at path in fsys.
func openAddonImage(fsys fs.FS, path string) (io.ReadCloser, error) {
	return fsys.Open(path)
}
