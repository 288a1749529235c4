package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"testing/fstest"

	"github.com/klauspost/compress/zstd"
)

func TestAddonImagesKeyedOnTheirSum(t *testing.T) {
	withSum := []byte("image a")
	sum := sha256.Sum256(withSum)
	fsys := fstest.MapFS{
		"images/b.tar.zst":        {Data: []byte("image b, no sum file")},
		"images/a.tar.zst":        {Data: withSum},
		"images/a.tar.zst.sha256": {Data: []byte(hex.EncodeToString(sum[:]) + "\n")},
		"images/c.tar.zst":        {Data: []byte("image c, a broken sum file")},
		"images/c.tar.zst.sha256": {Data: []byte("not hex\n")},
		"images/notes.txt":        {Data: []byte("not an image")},
	}
	got, err := addonImages(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []addonImage{
		{path: "images/a.tar.zst", source: source{Key: "embedded:images/a.tar.zst", Size: 7, MTime: hash64(withSum)}},
		{path: "images/b.tar.zst", source: source{Key: "embedded:images/b.tar.zst", Size: 20, MTime: hash64(fsys["images/b.tar.zst"].Data)}},
		{path: "images/c.tar.zst", source: source{Key: "embedded:images/c.tar.zst", Size: 26, MTime: hash64(fsys["images/c.tar.zst"].Data)}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("image %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if none, err := addonImages(nil); err != nil || len(none) != 0 {
		t.Errorf("no FS: %v, %v", none, err)
	}
}

func TestOpenAddonImageDecompresses(t *testing.T) {
	var packed bytes.Buffer
	zw, err := zstd.NewWriter(&packed)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write([]byte("an image tarball"))
	zw.Close()
	fsys := fstest.MapFS{"x.tar.zst": {Data: packed.Bytes()}, "bad.tar.zst": {Data: []byte("not zstd")}}
	r, err := openAddonImage(fsys, "x.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(data) != "an image tarball" {
		t.Fatalf("read %q, %v", data, err)
	}
	r, err = openAddonImage(fsys, "bad.tar.zst")
	if err == nil {
		_, err = io.ReadAll(r)
		r.Close()
	}
	if err == nil {
		t.Error("a file that is not zstd should fail to read")
	}
}
