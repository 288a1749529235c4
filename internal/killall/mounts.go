package killall

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// mount is one line of /proc/self/mountinfo.
type mount struct {
	id, parent int
	point      string
	fsType     string
	source     string
}

// parseMountInfo reads the format of proc(5)'s /proc/<pid>/mountinfo.
func parseMountInfo(r io.Reader) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || sep+2 >= len(f) {
			return nil, fmt.Errorf("malformed mountinfo line %q", sc.Text())
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("malformed mountinfo line %q", sc.Text())
		}
		out = append(out, mount{
			id: id, parent: parent,
			point:  unescapeOctal(f[4]),
			fsType: f[sep+1],
			source: unescapeOctal(f[sep+2]),
		})
	}
	return out, sc.Err()
}

// unescapeOctal undoes the kernel's \ooo escapes (space is \040).
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readMountInfo lists this process's mounts.
func readMountInfo() ([]mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountInfo(f)
}

// mountRoots are the places whose mounts are skiff's: a folder and all
// under it, or, ending in "-", every name that starts so.
func mountRoots(dataDir string) []string {
	roots := []string{
		"/run/skiff",
		"/var/lib/kubelet/pods",
		"/var/lib/kubelet/plugins",
		"/run/netns/cni-",
	}
	if dataDir != "" {
		d := filepath.Clean(dataDir)
		if real, err := filepath.EvalSymlinks(d); err == nil {
			d = real
		}
		roots = append(roots, filepath.Join(d, "agent", "containerd"))
	}
	return roots
}

func under(path, root string) bool {
	if strings.HasSuffix(root, "-") {
		return strings.HasPrefix(path, root)
	}
	return path == root || strings.HasPrefix(path, root+"/")
}

// toUnmount picks the mounts under roots and orders them deepest first;
// of mounts stacked on one point, the last mounted comes first.
func toUnmount(mounts []mount, roots []string) []string {
	type item struct {
		point string
		depth int
		order int
	}
	var items []item
	for i, m := range mounts {
		for _, r := range roots {
			if under(m.point, r) {
				items = append(items, item{m.point, strings.Count(filepath.Clean(m.point), "/"), i})
				break
			}
		}
	}
	sort.SliceStable(items, func(a, b int) bool {
		if items[a].depth != items[b].depth {
			return items[a].depth > items[b].depth
		}
		return items[a].order > items[b].order
	})
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.point
	}
	return out
}
