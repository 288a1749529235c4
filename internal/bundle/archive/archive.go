package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

const (
	// SumsFile lists "<sha256>  bin/<name>" for every file, in the format
	// that sha256sum -c reads. Unpack keeps it in the folder it writes.
	SumsFile = "sha256sums"
	// BinDir is the folder that holds the files.
	BinDir = "bin"
	// maxSums bounds what is read of SumsFile.
	maxSums = 1 << 20
)

// File is one file of a bundle, unpacked as bin/<Name>.
type File struct {
	Name string
	Mode fs.FileMode // 0755 when zero
	Data []byte
}

// Write writes files as a bundle archive to w. The same files give the same
// bytes, so the folder a bundle unpacks into changes only when a file does.
func Write(w io.Writer, files []File) error {
	// Best compression costs seconds once per build and saves megabytes in
	// every binary; an 8 MiB window bounds the memory of unpacking.
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(8<<20))
	if err != nil {
		return err
	}
	if err := WriteTar(zw, files); err != nil {
		return err
	}
	return zw.Close()
}

// WriteTar is Write without the compression, for a caller that compresses
// with a tool of its own (a release's launcher payload: the zstd command
// with a long window). Unpack reads any zstd stream of it.
func WriteTar(w io.Writer, files []File) error {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	var sums strings.Builder
	for i, f := range files {
		if f.Name == "" || strings.ContainsAny(f.Name, "/\\") || strings.HasPrefix(f.Name, ".") {
			return fmt.Errorf("bad bundle file name %q: want a plain file name", f.Name)
		}
		if i > 0 && files[i-1].Name == f.Name {
			return fmt.Errorf("bundle file %q is given twice", f.Name)
		}
		sum := sha256.Sum256(f.Data)
		fmt.Fprintf(&sums, "%s  %s/%s\n", hex.EncodeToString(sum[:]), BinDir, f.Name)
	}
	tw := tar.NewWriter(w)
	add := func(name string, mode fs.FileMode, data []byte) error {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(mode.Perm()), Size: int64(len(data)),
			ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("packing %s: %w", name, err)
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add(SumsFile, 0o644, []byte(sums.String())); err != nil {
		return err
	}
	for _, f := range files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o755
		}
		if err := add(BinDir+"/"+f.Name, mode, f.Data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// Unpack writes the archive's files and SumsFile under dst, which must
// exist, each synced, and returns the files' names (bin/<name>), sorted. On
// error dst holds a part of the archive: unpack into a temporary folder.
//
// What it wrote is what was packed: the archive must carry zstd's content
// checksum, which covers every byte it decodes, and hold exactly the files
// SumsFile lists. It does not hash each file again with sha256: that cost
// ~0.3 s of a core for a release's 320 MB here, and seconds on boards
// without SHA instructions (a Raspberry Pi 4), on every first start, to
// find what the checksum finds. SumsFile stays for sha256sum -c.
func Unpack(dst string, archive []byte) ([]string, error) {
	var frame zstd.Header
	if err := frame.Decode(archive); err != nil {
		return nil, fmt.Errorf("reading the archive: %w", err)
	}
	if !frame.HasCheckSum {
		return nil, errors.New("the archive carries no zstd checksum: pack it with one (zstd --check)")
	}
	if frame.WindowSize >= hugeWindow {
		// Slack for the small buffers allocated before the window.
		preferHugePages(int(frame.WindowSize) + 32<<20)
	}
	// Two decoder goroutines: one decodes blocks while the other keeps the
	// window; a third (copier) writes what they decoded, so that a
	// release's first start uses both cores.
	zr, err := zstd.NewReader(bytes.NewReader(archive), zstd.WithDecoderConcurrency(2))
	if err != nil {
		return nil, err
	}
	defer zr.Close()

	var (
		tr   = tar.NewReader(zr)
		cp   = newCopier()
		sums []byte
		got  = map[string]bool{}
		dirs = map[string]bool{dst: true}
	)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if !filepath.IsLocal(name) || path.Clean(name) != name {
			return nil, fmt.Errorf("the archive holds a bad name %q", hdr.Name)
		}
		switch {
		case hdr.Typeflag == tar.TypeDir:
			continue // folders are made for the files in them
		case hdr.Typeflag != tar.TypeReg:
			return nil, fmt.Errorf("the archive holds %q, which is not a regular file", hdr.Name)
		case name == SumsFile:
			if sums, err = io.ReadAll(io.LimitReader(tr, maxSums)); err != nil {
				return nil, fmt.Errorf("reading %s: %w", SumsFile, err)
			}
			continue
		case !strings.HasPrefix(name, BinDir+"/") || strings.HasPrefix(path.Base(name), "."):
			return nil, fmt.Errorf("the archive holds %q, which is not a file in %s/", hdr.Name, BinDir)
		case got[name]:
			return nil, fmt.Errorf("the archive holds %q twice", hdr.Name)
		}
		p := filepath.Join(dst, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		dirs[filepath.Dir(p)] = true
		if err := cp.writeFile(p, fs.FileMode(hdr.Mode).Perm(), tr, hdr.Size); err != nil {
			return nil, err
		}
		got[name] = true
	}
	// The tar ends before the zstd frame does: its checksum is checked
	// when the frame's last bytes are read.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, fmt.Errorf("the archive is corrupt: %w", err)
	}

	want, err := parseSums(sums)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if want[name] == "" {
			return nil, fmt.Errorf("%s is not listed in %s", name, SumsFile)
		}
	}
	names := slices.Sorted(maps.Keys(want))
	for _, name := range names {
		if !got[name] {
			return nil, fmt.Errorf("%s is listed in %s but missing from the archive", name, SumsFile)
		}
	}
	if err := fsutil.WriteFile(filepath.Join(dst, SumsFile), sums, 0o644); err != nil {
		return nil, err
	}
	for d := range dirs {
		if err := SyncDir(d); err != nil {
			return nil, err
		}
	}
	return names, nil
}

func parseSums(sums []byte) (map[string]string, error) {
	if len(sums) == 0 {
		return nil, fmt.Errorf("the archive has no %s", SumsFile)
	}
	want := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if b, err := hex.DecodeString(sum); !ok || err != nil || len(b) != sha256.Size || name == "" {
			return nil, fmt.Errorf("bad line in %s: %q", SumsFile, sc.Text())
		}
		want[name] = sum
	}
	return want, sc.Err()
}

// SyncDir flushes a folder's entries to disk.
func SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
