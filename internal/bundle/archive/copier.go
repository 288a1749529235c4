package archive

import (
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// chunkSize and chunks bound what a copier holds: enough for the decoder
// to run ahead of the disk without holding a whole 200 MB binary.
const (
	chunkSize = 1 << 20
	chunks    = 4
)

// copier writes files from a reader that is slow to read (a zstd stream)
// on a goroutine of its own, so that the kernel's side of writing overlaps
// with decoding instead of following it.
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

// writeFile creates path with mode from the size bytes of r, synced.
func (c *copier) writeFile(path string, mode fs.FileMode, r io.Reader, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := c.copy(&diskWriter{f: f, fd: int(f.Fd())}, r, size); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// copy reads size bytes of r on this goroutine and writes them on another.
// A failed write is reported once r is read: the reader never blocks on a
// writer that gave up.
func (c *copier) copy(w io.Writer, r io.Reader, size int64) error {
	filled := make(chan []byte, chunks)
	written := make(chan error, 1)
	go func() {
		var err error
		for b := range filled {
			if err == nil {
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

// diskWriter writes a file and has the kernel start writing each chunk to
// disk at once. Left to itself the kernel holds a fresh file's pages until
// the fsync that ends it (background writeback starts at 10% of memory), so
// that unpacking decoded 320 MB and then waited ~1.3 s for this machine's
// disk to take them; started early, the disk writes while the decoder
// decodes, and the fsync waits only for the last chunks.
type diskWriter struct {
	f   *os.File
	fd  int // f's, read once
	off int64
}

func (w *diskWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	if n > 0 {
		// Only a hint: an error here (a file system that cannot) leaves the
		// pages to the fsync, which reports what matters.
		_ = unix.SyncFileRange(w.fd, w.off, int64(n), unix.SYNC_FILE_RANGE_WRITE)
		w.off += int64(n)
	}
	return n, err
}
