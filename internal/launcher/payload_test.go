package launcher

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestAppendThenFind(t *testing.T) {
	var out bytes.Buffer
	launcher, archive := []byte("\x7fELF launcher"), []byte("the archive's bytes")
	if err := Append(&out, launcher, archive); err != nil {
		t.Fatal(err)
	}
	file := bytes.NewReader(out.Bytes())
	p, err := Find(file, int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if p.Offset != int64(len(launcher)) || p.Size != int64(len(archive)) {
		t.Fatalf("Find = %+v, want offset %d size %d", p, len(launcher), len(archive))
	}
	got, err := p.Read(file)
	if err != nil || !bytes.Equal(got, archive) {
		t.Fatalf("Read = %q, %v", got, err)
	}
}

func TestFindWithoutPayload(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("short"), bytes.Repeat([]byte{1}, 4096)} {
		if _, err := Find(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrNoPayload) {
			t.Errorf("Find(%d bytes) = %v, want ErrNoPayload", len(data), err)
		}
	}
}

func TestReadRefusesADamagedArchive(t *testing.T) {
	var out bytes.Buffer
	if err := Append(&out, []byte("launcher"), []byte("archive")); err != nil {
		t.Fatal(err)
	}
	data := out.Bytes()
	data[len("launcher")+2] ^= 0xff // a byte of the archive flipped on disk
	p, err := Find(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Read(bytes.NewReader(data)); err == nil {
		t.Fatal("a damaged archive was read without an error")
	}
}

func TestFindRefusesADamagedTrailer(t *testing.T) {
	var out bytes.Buffer
	if err := Append(&out, []byte("launcher"), []byte("archive")); err != nil {
		t.Fatal(err)
	}
	data := out.Bytes()
	data[len(data)-int(trailerSize)] = 0xff // the size now exceeds the file
	if _, err := Find(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrNoPayload) {
		t.Fatalf("Find = %v, want ErrNoPayload", err)
	}
}

// Map gives what Read gives, from a file whose archive does not start on a
// page boundary, and refuses the same damage.
func TestMap(t *testing.T) {
	launcher, archive := bytes.Repeat([]byte{0x7f}, 5000), bytes.Repeat([]byte("archive "), 3000)
	var out bytes.Buffer
	if err := Append(&out, launcher, archive); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "skiff")
	if err := os.WriteFile(path, out.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	f, p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := p.Map(f)
	if err != nil || !bytes.Equal(got, archive) {
		t.Fatalf("Map = %d bytes, %v; want the %d of the archive", len(got), err, len(archive))
	}

	data := out.Bytes()
	data[len(launcher)+100] ^= 0xff
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	g, p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := p.Map(g); err == nil {
		t.Fatal("a damaged archive was mapped without an error")
	}
}
