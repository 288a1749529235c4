package snapshot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// ResolvePath finds the file --cluster-reset-restore-path names: a path,
// or the name of a snapshot in the snapshots folder dir (what `etcd-snapshot
// ls` prints), so that a user can paste either.
func ResolvePath(path, dir string) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return filepath.Abs(path)
	}
	if !strings.ContainsRune(path, os.PathSeparator) {
		inDir := filepath.Join(dir, path)
		if _, err := os.Stat(inDir); err == nil {
			return inDir, nil
		}
	}
	return "", fmt.Errorf("--cluster-reset-restore-path %s: no such file (nor a snapshot of that name in %s); 'skiff etcd-snapshot ls' lists the snapshots", path, dir)
}

// ServerRunning tells whether a server uses this data dir's SQLite
// database now: its kine socket answers. A socket left by a killed server
// refuses connections and does not count.
func (s Store) ServerRunning() bool {
	c, err := net.DialTimeout("unix", s.kineSocket(), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// RestoreSQLite replaces the data dir's SQLite database with the snapshot
// in file, which must check out as a skiff SQLite snapshot first. The
// current database (with its -wal and -shm) is kept as
// state.db.pre-restore-<unix>, never deleted; RestoreSQLite returns that
// name ("" when there was no database). The server must not be running.
func (s Store) RestoreSQLite(file string) (aside string, err error) {
	if s.ServerRunning() {
		return "", fmt.Errorf("a skiff server is running on %s (its datastore socket %s answers); stop it first (systemctl stop skiff), then restore", s.DataDir, s.kineSocket())
	}
	if err := VerifySQLite(file); err != nil {
		return "", fmt.Errorf("--cluster-reset-restore-path: %w; give a file that 'skiff etcd-snapshot save' made", err)
	}
	db := s.SQLitePath()
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		return "", fmt.Errorf("creating the database folder: %w", err)
	}
	// The copy is made whole beside the database first, then renamed over
	// it in one step.
	tmp, err := copyBeside(file, db)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp) // a no-op once renamed

	if _, err := os.Stat(db); err == nil {
		aside = db + ".pre-restore-" + strconv.FormatInt(time.Now().Unix(), 10)
		// Hard links first: the old database, with the write-ahead log
		// that may hold its newest commits, is whole under the new name
		// before anything is removed.
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Link(db+suffix, aside+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("keeping the current database as %s: %w", aside+suffix, err)
			}
		}
		// The old log must not be applied to the new database.
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.Remove(db + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("moving %s aside: %w", db+suffix, err)
			}
		}
	}
	if err := os.Rename(tmp, db); err != nil {
		return "", fmt.Errorf("putting the snapshot in place of %s (the old database is in %s): %w", db, aside, err)
	}
	fsutil.SyncDir(filepath.Dir(db))
	return aside, nil
}

// copyBeside copies src to a temporary file in dst's folder, synced, and
// returns its name.
func copyBeside(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".restore-*")
	if err != nil {
		return "", fmt.Errorf("copying the snapshot: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			out.Close()
			os.Remove(out.Name())
		}
	}()
	if err := out.Chmod(0o600); err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		return "", fmt.Errorf("copying the snapshot: %w", err)
	}
	if err := out.Sync(); err != nil {
		return "", fmt.Errorf("copying the snapshot: %w", err)
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	ok = true
	return out.Name(), nil
}
