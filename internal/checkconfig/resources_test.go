package checkconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSwap(t *testing.T) {
	expect(t, find(t, fakeHost(t, goodHost(), nodeOptions(t), true).run(), "swap"), OK, "swap is off")
	files := goodHost()
	files["/proc/swaps"] += "/swapfile                               file\t\t2097148\t\t0\t\t-2\n"
	expect(t, find(t, fakeHost(t, files, nodeOptions(t), true).run(), "swap"), Warning,
		"swap is on (2.0 GiB on 1 device(s)); the kubelet runs anyway (failSwapOn=false)", "swapoff -a")
}

func TestDataDirSpace(t *testing.T) {
	for free, want := range map[uint64]struct {
		st   Status
		text string
	}{
		150 << 20: {Missing, "data dir /var/lib/skiff: 150 MiB free; skiff needs at least 200 MiB: free some space, or choose a data dir on a larger filesystem with --data-dir"},
		700 << 20: {Warning, "data dir /var/lib/skiff: 700 MiB free; images and logs will soon fill it"},
		3 << 30:   {OK, "data dir /var/lib/skiff: 3.0 GiB free"},
	} {
		h := fakeHost(t, goodHost(), nodeOptions(t), false)
		h.freeSpace = func(string) (uint64, error) { return free, nil }
		results, err := start(h)
		expect(t, find(t, results, "data dir"), want.st, want.text)
		if (err != nil) != (want.st == Missing) {
			t.Errorf("%d bytes free: start error %v", free, err)
		}
	}
}

// Before the first start the data dir does not exist: its nearest parent
// tells. A data dir under a file is refused later, with its own message.
func TestFreeSpaceOfAFutureDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "a", "b", "c"), filepath.Join(file, "data"), "relative/data"} {
		if free, err := freeSpace(p); err != nil || free == 0 {
			t.Errorf("freeSpace(%s) = %d, %v", p, free, err)
		}
	}
}

func TestSize(t *testing.T) {
	for b, want := range map[uint64]string{512 << 10: "512 KiB", 200 << 20: "200 MiB", 77966082048: "72.6 GiB"} {
		if got := size(b); got != want {
			t.Errorf("size(%d) = %q, want %q", b, got, want)
		}
	}
	if !strings.HasSuffix(size(minFree), "MiB") {
		t.Errorf("minFree reads %s", size(minFree))
	}
}
