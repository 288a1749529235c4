package datastore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	"k8s.io/klog/v2"
)

// walLimit is the size of SQLite's write-ahead log past which skiff
// checkpoints it and truncates the file: SQLite's own checkpoint size
// (1,000 pages of 4 KiB). SQLite moves the log back to its start only
// when no reader is inside it, which under steady concurrent reads and
// writes (kine reads each key before writing it) seldom happens: the log
// then grows by every write's pages, about 20 KiB a write, and its file
// never shrinks (kine truncates it only at start-up). 8,000 writes from 8
// clients straight through kine grew it to 162 MiB in 9 s, twelve times
// the database. Checked every second, it is back under 8 MiB seconds
// after such a burst and stays there at 400 writes/s, with no measurable
// change to the writes' p99.
const walLimit = 4 << 20

// walCheckInterval is how often the log's size is looked at: a stat, so
// cheap; at 1,000 writes/s the log grows about 20 MiB in it.
const walCheckInterval = time.Second

// walBusyTimeout bounds how long a checkpoint waits for readers to leave
// the log. Writers wait behind it meanwhile, so it stays short, and after
// each checkpoint that could not finish the next waits twice as long, up
// to walMaxBackoff: a long reader (a snapshot's VACUUM INTO, a large
// list) must not stall the writers every second while it reads.
const (
	walBusyTimeout = 100 * time.Millisecond
	walMaxBackoff  = 8 * time.Second
)

// keepWALSmall checkpoints the SQLite database at path and truncates its
// log whenever the log has grown past walLimit, until ctx ends. It uses a
// connection of its own: kine gives no access to its pool, and a
// checkpoint is the database's, whichever connection asks for it.
func keepWALSmall(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite3", fmt.Sprintf("%s?_busy_timeout=%d", path, walBusyTimeout.Milliseconds()))
	if err != nil {
		return fmt.Errorf("opening %s to checkpoint its log: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	wait := walCheckInterval
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil || fi.Size() <= walLimit {
			wait = walCheckInterval
			continue
		}
		// busy is 1 when readers kept the log from being truncated.
		var busy, logPages, done int
		begin := time.Now()
		err = db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil || busy != 0:
			wait = min(2*wait, walMaxBackoff)
			klog.V(1).Infof("SQLite's %d MiB log could not be truncated (busy %d, %v); trying again in %s", fi.Size()>>20, busy, err, wait)
		default:
			wait = walCheckInterval
			klog.V(2).Infof("checkpointed and truncated SQLite's %d MiB log in %s", fi.Size()>>20, time.Since(begin).Round(time.Millisecond))
		}
	}
}
