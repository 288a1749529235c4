package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Names k3s gives its snapshots: a user's (`etcd-snapshot save` without
// --name) and the schedule's.
const (
	OnDemandName  = "on-demand"
	ScheduledName = "etcd-snapshot"
)

// DefaultDir is where snapshots go unless --etcd-snapshot-dir says
// otherwise: beside the database they copy, as in k3s.
func DefaultDir(dataDir string) string {
	return filepath.Join(dataDir, "server", "db", "snapshots")
}

// Info is one snapshot file, as `etcd-snapshot ls` shows it and the
// ConfigMap records it.
type Info struct {
	Name      string    `json:"name"`
	Location  string    `json:"location"` // file:///<absolute path>
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"createdAt"`
	NodeName  string    `json:"nodeName,omitempty"`
}

// Path is the file the snapshot is in.
func (i Info) Path() string { return strings.TrimPrefix(i.Location, "file://") }

// validName is what a snapshot's name (and --name) may hold: it becomes a
// file name and a ConfigMap key.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// CheckName refuses a --name that cannot be a file name and a ConfigMap key.
func CheckName(name string) error {
	if !validName.MatchString(name) || len(name) > 200 {
		return fmt.Errorf("snapshot name %q may hold only letters, digits, '.', '_' and '-' (and start with a letter or digit)", name)
	}
	return nil
}

// FileName is k3s's name for a snapshot taken at t: <name>-<node>-<unix>.
func FileName(name, node string, t time.Time) string {
	return fmt.Sprintf("%s-%s-%d", name, node, t.Unix())
}

// Prefix is what the names of name's snapshots of node start with: what
// prune counts.
func Prefix(name, node string) string { return name + "-" + node + "-" }

// List returns the snapshots in dir, oldest first; node is this server's
// node name, recorded for the files whose names carry it. A folder that
// does not exist holds no snapshots.
func List(dir, node string) ([]Info, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing snapshots in %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range entries {
		// Dot files are saves under way (see Save); they are not snapshots
		// until renamed.
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") || !validName.MatchString(e.Name()) {
			continue
		}
		st, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, describe(abs, e.Name(), node, st))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func describe(absDir, name, node string, st fs.FileInfo) Info {
	i := Info{
		Name:      name,
		Location:  "file://" + filepath.Join(absDir, name),
		Size:      st.Size(),
		CreatedAt: st.ModTime().UTC().Truncate(time.Second),
	}
	// The time in the name is when the copy began, and survives a copy of
	// the file to another machine; the file's own time is a fallback.
	if dash := strings.LastIndexByte(name, '-'); dash > 0 {
		if sec, err := strconv.ParseInt(name[dash+1:], 10, 64); err == nil && sec > 0 {
			i.CreatedAt = time.Unix(sec, 0).UTC()
			if strings.HasSuffix(name[:dash], "-"+node) {
				i.NodeName = node
			}
		}
	}
	return i
}

// Delete removes the named snapshots from dir. Every name is checked
// before any file goes, so a typo deletes nothing.
func Delete(dir string, names []string) ([]string, error) {
	for _, n := range names {
		if !validName.MatchString(n) {
			return nil, fmt.Errorf("%q is not a snapshot name; 'skiff etcd-snapshot ls' lists them", n)
		}
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil || !st.Mode().IsRegular() {
			return nil, fmt.Errorf("no snapshot %q in %s; 'skiff etcd-snapshot ls' lists them", n, dir)
		}
	}
	var deleted []string
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return deleted, fmt.Errorf("deleting snapshot %s: %w", n, err)
		}
		deleted = append(deleted, n)
	}
	return deleted, nil
}

// Prune deletes all but the keep newest snapshots in dir whose names start
// with prefix (see Prefix), as k3s's retention does; other files are left
// alone. It returns the names it deleted.
func Prune(dir, prefix string, keep int) ([]string, error) {
	if keep < 1 {
		return nil, fmt.Errorf("retention %d would delete every snapshot; keep at least 1", keep)
	}
	all, err := List(dir, "")
	if err != nil {
		return nil, err
	}
	var mine []Info
	for _, i := range all {
		if strings.HasPrefix(i.Name, prefix) {
			mine = append(mine, i)
		}
	}
	if len(mine) <= keep {
		return nil, nil
	}
	var names []string
	for _, i := range mine[:len(mine)-keep] { // oldest first
		names = append(names, i.Name)
	}
	return Delete(dir, names)
}
