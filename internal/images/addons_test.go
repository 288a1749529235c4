package images

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"testing/fstest"
)

func TestAddonImagesKeyedOnTheirSum(t *testing.T) {
	withSum := []byte("image a")
	sum := sha256.Sum256(withSum)
	fsys := fstest.MapFS{
		"images/b.tar":        {Data: []byte("image b, no sum file")},
		"images/a.tar":        {Data: withSum},
		"images/a.tar.sha256": {Data: []byte(hex.EncodeToString(sum[:]) + "\n")},
		"images/c.tar":        {Data: []byte("image c, a broken sum file")},
		"images/c.tar.sha256": {Data: []byte("not hex\n")},
		"images/notes.txt":    {Data: []byte("not an image")},
	}
	got, err := addonImages(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []addonImage{
		{path: "images/a.tar", source: source{Key: "embedded:images/a.tar", Size: 7, MTime: hash64(withSum)}},
		{path: "images/b.tar", source: source{Key: "embedded:images/b.tar", Size: 20, MTime: hash64(fsys["images/b.tar"].Data)}},
		{path: "images/c.tar", source: source{Key: "embedded:images/c.tar", Size: 26, MTime: hash64(fsys["images/c.tar"].Data)}},
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
