package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
)

// chunkSize and chunks bound what a copier holds: enough for the decoder
// to run ahead of the disk without holding a whole 200 MB binary.
const (
	chunkSize = 1 << 20
	chunks    = 4
)

// copier writes files from a reader that is slow to read (a zstd stream)
// on a goroutine of its own: hashing and the kernel's side of writing
// (~1.2 s of a core for a release's 320 MB) overlap with decoding
// (~1.2 s more) instead of following it.
type copier struct {
	free chan []byte
}

func newCopier() *copier {
	c := &copier{free: make(chan []byte, chunks)}
	for range chunks {
		c.free <- make([]byte, chunkSize)
	}
	return c
}

// writeFile creates path with mode from the size bytes of r, synced, and
// returns the hex sha256 of what it wrote.
func (c *copier) writeFile(path string, mode fs.FileMode, r io.Reader, size int64) (string, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if err := c.copy(f, h, r, size); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copy reads size bytes of r on this goroutine and hashes and writes them on
// another. A failed write is reported once r is read: the reader never
// blocks on a writer that gave up.
func (c *copier) copy(w io.Writer, h hash.Hash, r io.Reader, size int64) error {
	filled := make(chan []byte, chunks)
	written := make(chan error, 1)
	go func() {
		var err error
		for b := range filled {
			if err == nil {
				h.Write(b)
				_, err = w.Write(b)
			}
			c.free <- b[:cap(b)]
		}
		written <- err
	}()
	var rerr error
	for left := size; left > 0 && rerr == nil; {
		b := <-c.free
		n, err := io.ReadFull(r, b[:min(int64(len(b)), left)])
		left -= int64(n)
		if n > 0 {
			filled <- b[:n]
		} else {
			c.free <- b
		}
		rerr = err
	}
	close(filled)
	if werr := <-written; werr != nil {
		return werr
	}
	return rerr
}
