package server

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/internal/snapshot"
)

// validateSnapshots checks the snapshot and restore flags before anything
// is written.
func (c *Config) validateSnapshots() error {
	if !c.EtcdDisableSnapshots {
		if _, err := snapshot.ParseSchedule(c.EtcdSnapshotScheduleCron); err != nil {
			return err
		}
		if c.EtcdSnapshotRetention < 1 {
			return fmt.Errorf("--etcd-snapshot-retention %d would keep no snapshot; give 1 or more, or --etcd-disable-snapshots", c.EtcdSnapshotRetention)
		}
	}
	if c.ClusterResetRestorePath != "" && !c.ClusterReset {
		return errors.New("--cluster-reset-restore-path needs --cluster-reset: restoring replaces the cluster's state, say so with both flags")
	}
	return nil
}

// snapshotDir is where this server's snapshots go.
func (c *Config) snapshotDir() string {
	if c.EtcdSnapshotDir != "" {
		return c.EtcdSnapshotDir
	}
	return snapshot.DefaultDir(c.DataDir)
}

// scheduledSnapshots is the part that takes the scheduled snapshots and
// records every snapshot of this node in a ConfigMap.
func scheduledSnapshots(cfg Config, client kubernetes.Interface, identity string) *snapshot.Scheduled {
	return &snapshot.Scheduled{
		Store:     snapshot.Store{DataDir: cfg.DataDir},
		Dir:       cfg.snapshotDir(),
		NodeName:  identity,
		Schedule:  cfg.EtcdSnapshotScheduleCron,
		Retention: cfg.EtcdSnapshotRetention,
		// An external datastore is backed up with its own tools: skiff
		// has no file of it to copy.
		Disabled: cfg.EtcdDisableSnapshots || cfg.DatastoreEndpoint != "",
		Client:   client,
	}
}

// clusterReset is --cluster-reset on a SQLite data dir: it puts the
// snapshot --cluster-reset-restore-path names in place of the database,
// says what it did, and returns; the user starts the server again without
// the flag, as with k3s. handled is false for a data dir with an embedded
// etcd member, whose reset is the etcd part's.
func clusterReset(cfg Config) (handled bool, err error) {
	store := snapshot.Store{DataDir: cfg.DataDir}
	if store.IsEtcd() {
		return false, nil
	}
	if cfg.DatastoreEndpoint != "" {
		return true, errors.New("--cluster-reset restores skiff's own store (SQLite or embedded etcd); restore an external --datastore-endpoint with that database's own tools")
	}
	if cfg.ClusterResetRestorePath == "" {
		return true, errors.New("--cluster-reset on a SQLite server needs --cluster-reset-restore-path <snapshot>: a single SQLite server has no membership to reset ('skiff etcd-snapshot ls' lists the snapshots)")
	}
	file, err := snapshot.ResolvePath(cfg.ClusterResetRestorePath, cfg.snapshotDir())
	if err != nil {
		return true, err
	}
	aside, err := store.RestoreSQLite(file)
	if err != nil {
		return true, err
	}
	kept := "there was no database before"
	if aside != "" {
		kept = "the previous database is kept as " + aside
	}
	fmt.Fprintf(os.Stdout, "Restored the SQLite datastore %s from snapshot %s (%s); start skiff server again without --cluster-reset\n",
		store.SQLitePath(), file, kept)
	return true, nil
}
