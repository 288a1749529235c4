package etcd

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	// kine's own SQLite driver, already in the binary.
	_ "github.com/mattn/go-sqlite3"
	"k8s.io/klog/v2"
)

// migratingFile marks a copy from SQLite under way: a copy cut short is
// made again at the next start (puts are idempotent), and the SQLite file
// is moved aside only once the copy is whole.
const migratingFile = "skiff-migrating-from-sqlite"

// migrate copies the newest revision of every live key of kine's SQLite
// table into etcd, once, then renames the SQLite file (and its WAL) aside.
// Keys held by a lease (Events, endpoint leases) are left out: they expire
// within the hour anyway, and their leases do not exist in etcd.
func (e *Etcd) migrate(ctx context.Context) error {
	marker := filepath.Join(e.DataDir, migratingFile)
	if _, err := os.Stat(marker); err != nil {
		return nil
	}
	start := time.Now()
	db, err := sql.Open("sqlite3", "file:"+e.MigrateFrom+"?mode=ro&_busy_timeout=30000")
	if err != nil {
		return fmt.Errorf("opening %s: %w", e.MigrateFrom, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT name, value FROM kine AS k
		WHERE k.id IN (SELECT MAX(id) FROM kine GROUP BY name)
		AND k.deleted = 0 AND k.lease = 0 AND k.name LIKE '/%'`)
	if err != nil {
		return fmt.Errorf("reading the keys of %s: %w", e.MigrateFrom, err)
	}
	defer rows.Close()
	cli, err := e.client()
	if err != nil {
		return err
	}
	n := 0
	for rows.Next() {
		var name string
		var value []byte
		if err := rows.Scan(&name, &value); err != nil {
			return fmt.Errorf("reading a key of %s: %w", e.MigrateFrom, err)
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := cli.Put(pctx, name, string(value))
		cancel()
		if err != nil {
			return fmt.Errorf("copying %s into etcd: %w", name, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the keys of %s: %w", e.MigrateFrom, err)
	}
	db.Close()
	aside := e.MigrateFrom + ".migrated-to-etcd"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(e.MigrateFrom+suffix, aside+suffix); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("moving %s aside: %w", e.MigrateFrom+suffix, err)
		}
	}
	if err := os.Remove(marker); err != nil {
		return fmt.Errorf("ending the migration: %w", err)
	}
	klog.InfoS("Moved the cluster's state from SQLite into embedded etcd; the SQLite file is kept aside",
		"keys", n, "from", e.MigrateFrom, "keptAt", aside, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
