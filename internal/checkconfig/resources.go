package checkconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// swap reports swap space. The kubelet runs with failSwapOn=false
// (internal/kubelet), so swap never stops skiff; it only makes memory
// limits and evictions less predictable, hence a warning.
func (h *host) swap() []Result {
	if !h.Node {
		return nil
	}
	data, err := h.read("/proc/swaps")
	if err != nil {
		return []Result{{Status: Warning, Text: fmt.Sprintf("swap: cannot read /proc/swaps: %v", err)}}
	}
	var kib uint64
	devices := 0
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		// Filename Type Size(KiB) Used Priority, under a header line.
		f := strings.Fields(line)
		if i == 0 || len(f) < 3 {
			continue
		}
		size, _ := strconv.ParseUint(f[2], 10, 64)
		kib += size
		devices++
	}
	if devices == 0 {
		return []Result{{Status: OK, Text: "swap is off"}}
	}
	return []Result{{Status: Warning,
		Text: fmt.Sprintf("swap is on (%s on %d device(s)); the kubelet runs anyway (failSwapOn=false), but memory limits and evictions are less predictable", size(kib<<10), devices),
		Fix:  "turn it off (swapoff -a, and remove it from /etc/fstab) unless you want it"}}
}

// A first start writes about 150 MB into the data dir: the runtime bundle
// unpacks to about 110 MB (containerd, its shim, runc, the CNI plugins)
// and the pause and addon images take some 30 MB once imported;
// the datastore and logs grow from there. Below minFree that cannot be
// done, or the kubelet finds disk pressure at once and starts evicting:
// the start is refused. Below lowFree it starts, but workload images soon
// do not fit: a warning.
const (
	minFree = 200 << 20
	lowFree = 1 << 30
)

// dataDir checks the free space where the data dir is, or will be.
func (h *host) dataDir() []Result {
	if h.DataDir == "" {
		return nil
	}
	free, err := h.freeSpace(h.DataDir)
	if err != nil {
		return []Result{{Status: Warning, Text: fmt.Sprintf("data dir %s: cannot tell its free space: %v", h.DataDir, err)}}
	}
	text := fmt.Sprintf("data dir %s: %s free", h.DataDir, size(free))
	fix := "free some space, or choose a data dir on a larger filesystem with --data-dir"
	switch {
	case free < minFree:
		return []Result{{Status: Missing, Text: fmt.Sprintf("%s; skiff needs at least %s", text, size(minFree)), Fix: fix}}
	case free < lowFree:
		return []Result{{Status: Warning, Text: fmt.Sprintf("%s; images and logs will soon fill it", text), Fix: fix}}
	}
	return []Result{{Status: OK, Text: text}}
}

// freeSpace is what an unprivileged writer may still use on path's
// filesystem, found from its nearest existing parent when path is not
// there yet.
func freeSpace(path string) (uint64, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return 0, err
	}
	for {
		var st unix.Statfs_t
		err := unix.Statfs(p, &st)
		if err == nil {
			return st.Bavail * uint64(st.Bsize), nil
		}
		parent := filepath.Dir(p)
		if parent == p || !(errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR)) {
			return 0, fmt.Errorf("statfs %s: %w", p, err)
		}
		p = parent
	}
}

// size is a byte count for people: 150 MiB, 72.6 GiB.
func size(b uint64) string {
	switch {
	case b >= 1<<30:
		return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + " GiB"
	case b >= 1<<20:
		return strconv.FormatUint(b>>20, 10) + " MiB"
	default:
		return strconv.FormatUint(b>>10, 10) + " KiB"
	}
}
