package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// Store is what a data dir keeps its cluster state in, as far as snapshots
// are concerned.
type Store struct {
	// DataDir is the server's --data-dir.
	DataDir string
}

// SQLitePath is the default datastore's file.
func (s Store) SQLitePath() string { return filepath.Join(s.DataDir, "server", "db", "state.db") }

// EtcdDir is the embedded etcd member's data dir.
func (s Store) EtcdDir() string { return filepath.Join(s.DataDir, "server", "db", "etcd") }

// kineSocket is where a running server's kine listens (SQLite only).
func (s Store) kineSocket() string { return filepath.Join(s.DataDir, "server", "kine.sock") }

// IsEtcd tells whether the data dir holds an embedded etcd member; from
// then on it, not state.db, is the cluster's store.
func (s Store) IsEtcd() bool {
	st, err := os.Stat(filepath.Join(s.EtcdDir(), "member"))
	return err == nil && st.IsDir()
}

// IsSQLite tells whether the data dir holds a SQLite datastore.
func (s Store) IsSQLite() bool {
	_, err := os.Stat(s.SQLitePath())
	return err == nil
}

// errNoStore says what to check when a data dir holds no store to copy.
func (s Store) errNoStore() error {
	return fmt.Errorf("no skiff datastore in %s (neither %s nor %s exists); point --data-dir at the server's data dir (a server with --datastore-endpoint is backed up with that database's own tools)",
		s.DataDir, s.SQLitePath(), filepath.Join(s.EtcdDir(), "member"))
}

// SaveOptions say what snapshot to take.
type SaveOptions struct {
	// Dir is the snapshots folder; empty: DefaultDir.
	Dir string
	// Name is the name's first part: OnDemandName when empty.
	Name string
	// NodeName is this server's node name, the name's second part.
	NodeName string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Save copies the store into a new snapshot file and returns it. The copy
// is written under a dot name and renamed only once whole and checked, so
// neither a crash nor a failure ever leaves a partial snapshot under a
// snapshot's name.
func (s Store) Save(ctx context.Context, o SaveOptions) (Info, error) {
	if o.Name == "" {
		o.Name = OnDemandName
	}
	if err := CheckName(o.Name); err != nil {
		return Info{}, err
	}
	if o.NodeName == "" {
		return Info{}, errors.New("no node name for the snapshot's file name")
	}
	if o.Dir == "" {
		o.Dir = DefaultDir(s.DataDir)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	save, verify, err := s.backend()
	if err != nil {
		return Info{}, err
	}
	// Snapshots hold every Secret of the cluster: only root may read them.
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return Info{}, fmt.Errorf("creating the snapshots folder: %w", err)
	}
	name := FileName(o.Name, o.NodeName, o.Now())
	final := filepath.Join(o.Dir, name)
	tmp, err := os.CreateTemp(o.Dir, "."+name+".tmp-*")
	if err != nil {
		return Info{}, fmt.Errorf("creating the snapshot file: %w", err)
	}
	tmp.Close()
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmp.Name())
		}
	}()
	if err := save(ctx, tmp.Name()); err != nil {
		return Info{}, err
	}
	if err := verify(tmp.Name()); err != nil {
		return Info{}, fmt.Errorf("the copy did not check out: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return Info{}, err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Info{}, fmt.Errorf("naming the snapshot: %w", err)
	}
	committed = true
	fsutil.SyncDir(o.Dir)
	st, err := os.Stat(final)
	if err != nil {
		return Info{}, err
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return Info{}, err
	}
	return describe(abs, name, o.NodeName, st), nil
}

// backend picks how to copy and check this data dir's store. An etcd
// member wins over a state.db left from before a conversion to etcd.
func (s Store) backend() (save func(ctx context.Context, dest string) error, verify func(string) error, err error) {
	switch {
	case s.IsEtcd():
		return func(ctx context.Context, dest string) error { return saveEtcd(ctx, s.etcdClientFiles(), dest) }, VerifyEtcd, nil
	case s.IsSQLite():
		return func(ctx context.Context, dest string) error { return saveSQLite(ctx, s.SQLitePath(), dest) }, VerifySQLite, nil
	default:
		if _, err := os.Stat(s.DataDir); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("data dir %s does not exist; point --data-dir at the server's data dir", s.DataDir)
		}
		return nil, nil, s.errNoStore()
	}
}
