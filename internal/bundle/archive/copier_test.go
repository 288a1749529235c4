package archive

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file of several chunks arrives whole and in order.
func TestCopierCopiesManyChunks(t *testing.T) {
	data := make([]byte, chunks*chunkSize*2+12345)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	var out bytes.Buffer
	if err := newCopier().copy(&out, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("wrote %d bytes that differ from the %d read", out.Len(), len(data))
	}
}

// A file written through the disk writer (which asks for early writeback
// after each chunk) holds what was read.
func TestCopierWritesFiles(t *testing.T) {
	data := make([]byte, chunkSize*3+7)
	rand.NewChaCha8([32]byte{2}).Read(data)
	p := filepath.Join(t.TempDir(), "f")
	if err := newCopier().writeFile(p, 0o751, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, len(data))
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o751 {
		t.Errorf("mode %v, want 0751", st.Mode().Perm())
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.n++; w.n > 1 {
		return 0, errors.New("disk full")
	}
	return len(b), nil
}

// A writer that fails mid-file neither blocks the reader (which has more
// chunks than the copier holds) nor goes unreported; nor does a short file.
func TestCopierReportsFailures(t *testing.T) {
	c := newCopier()
	size := int64(chunks * chunkSize * 3)
	err := c.copy(&failingWriter{}, io.LimitReader(zeros{}, size), size)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("failing writer: %v, want disk full", err)
	}
	err = c.copy(io.Discard, strings.NewReader("short"), 10)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short file: %v, want an unexpected EOF", err)
	}
	// Every buffer came back: the copier still works.
	if err := c.copy(io.Discard, io.LimitReader(zeros{}, size), size); err != nil {
		t.Errorf("after failures: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
