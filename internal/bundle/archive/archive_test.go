package archive

import (
	"archive/tar"
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func testFiles() []File {
	return []File{
		{Name: "runc", Data: []byte("runc binary")},
		{Name: "bridge", Mode: 0o700, Data: []byte("bridge plugin")},
	}
}

func write(t *testing.T, files []File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, files); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawArchive writes the tar entries as given, without Write's checks.
func rawArchive(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	return rawArchiveOpts(t, nil, entries...)
}

func rawArchiveOpts(t *testing.T, opts []zstd.EOption, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf, opts...)
	tw := tar.NewWriter(zw)
	for _, h := range entries {
		body := h.Linkname // the body of a regular file rides in Linkname here
		if h.Typeflag == tar.TypeReg {
			h.Size, h.Linkname = int64(len(body)), ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	dst := t.TempDir()
	names, err := Unpack(dst, write(t, testFiles()))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, " "); got != "bin/bridge bin/runc" {
		t.Errorf("names %q", got)
	}
	for _, f := range testFiles() {
		p := filepath.Join(dst, "bin", f.Name)
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(data, f.Data) {
			t.Errorf("%s: %q, %v", f.Name, data, err)
		}
		want := f.Mode
		if want == 0 {
			want = 0o755
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", f.Name, st.Mode().Perm(), want)
		}
	}
	sums, _ := os.ReadFile(filepath.Join(dst, SumsFile))
	if !strings.Contains(string(sums), "  bin/runc\n") {
		t.Errorf("%s: %q", SumsFile, sums)
	}
}

func TestWriteIsReproducible(t *testing.T) {
	files := testFiles()
	a := write(t, files)
	files[0], files[1] = files[1], files[0]
	if !bytes.Equal(a, write(t, files)) {
		t.Error("the same files in another order gave another archive")
	}
}

func TestWriteRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "a/b", "..", ".hidden"} {
		if err := Write(&bytes.Buffer{}, []File{{Name: name}}); err == nil {
			t.Errorf("%q: want an error", name)
		}
	}
	if err := Write(&bytes.Buffer{}, []File{{Name: "a"}, {Name: "a"}}); err == nil {
		t.Error("a name twice: want an error")
	}
}

// flipped is a good archive with one byte of a file's content changed
// where only zstd's checksum can see it: in a block stored as it is
// (random bytes do not compress).
func flipped(t *testing.T) []byte {
	t.Helper()
	data := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{3}).Read(data)
	archive := write(t, []File{{Name: "runc", Data: data}})
	at := bytes.Index(archive, data[1000:1064])
	if at < 0 {
		t.Fatal("the random file was not stored as it is")
	}
	archive[at+10] ^= 0x55
	return archive
}

func TestUnpackRefusesBadArchives(t *testing.T) {
	const sum = "6cd5b1e9a6b0b0e3b4b4b3f0d6c5d7fcb4a9d2cce4bf5ef6a1ecb2a3f1c1f1ae"
	reg := func(name, body string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Linkname: body}
	}
	good := write(t, testFiles())
	for name, data := range map[string][]byte{
		"not zstd":  []byte("plain bytes"),
		"truncated": good[:len(good)/2],
		"no sums":   rawArchive(t, reg("bin/runc", "x")),
		"no checksum": rawArchiveOpts(t, []zstd.EOption{zstd.WithEncoderCRC(false)},
			reg(SumsFile, sum+"  bin/runc\n"), reg("bin/runc", "x")),
		"flipped byte":  flipped(t),
		"unlisted file": rawArchive(t, reg(SumsFile, sum+"  bin/other\n"), reg("bin/runc", "x")),
		"missing file":  rawArchive(t, reg(SumsFile, sum+"  bin/runc\n")),
		"escape":        rawArchive(t, reg("../evil", "x")),
		"absolute":      rawArchive(t, reg("/etc/evil", "x")),
		"outside bin":   rawArchive(t, reg("other/x", "x")),
		"symlink":       rawArchive(t, &tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/x", Linkname: "/etc/passwd"}),
	} {
		parent := t.TempDir()
		dst := filepath.Join(parent, "dst")
		os.Mkdir(dst, 0o755)
		if _, err := Unpack(dst, data); err == nil {
			t.Errorf("%s: want an error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 1 {
			t.Errorf("%s: wrote outside the folder: %v", name, entries)
		}
	}
}
