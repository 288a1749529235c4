package archive

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// A file of several chunks arrives whole and in order, with its sum.
func TestCopierCopiesManyChunks(t *testing.T) {
	data := make([]byte, chunks*chunkSize*2+12345)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	var out bytes.Buffer
	h := sha256.New()
	if err := newCopier().copy(&out, h, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("wrote %d bytes that differ from the %d read", out.Len(), len(data))
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Error("the sum is not the data's")
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
	err := c.copy(&failingWriter{}, sha256.New(), io.LimitReader(zeros{}, size), size)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("failing writer: %v, want disk full", err)
	}
	err = c.copy(io.Discard, sha256.New(), strings.NewReader("short"), 10)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short file: %v, want an unexpected EOF", err)
	}
	// Every buffer came back: the copier still works.
	if err := c.copy(io.Discard, sha256.New(), io.LimitReader(zeros{}, size), size); err != nil {
		t.Errorf("after failures: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
