package datastore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeepWALSmall: a log grown past walLimit, by a writer whose own
// checkpoints are off as if readers kept them from finishing, is
// checkpointed and truncated within a few seconds, and nothing written is
// lost.
func TestKeepWALSmall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite3", path+"?_journal_mode=WAL&_synchronous=NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, stmt := range []string{"PRAGMA wal_autocheckpoint = 0", "CREATE TABLE t (v BLOB)"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	row := strings.Repeat("x", 64<<10)
	const rows = 2 * walLimit / (64 << 10)
	for range rows {
		if _, err := db.Exec("INSERT INTO t VALUES (?)", row); err != nil {
			t.Fatal(err)
		}
	}
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if walSize() <= walLimit {
		t.Fatalf("the log is %d bytes; the test needs it past %d", walSize(), walLimit)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- keepWALSmall(ctx, path) }()
	deadline := time.Now().Add(10 * time.Second)
	for walSize() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("keepWALSmall: %v", err)
	}
	if n := walSize(); n != 0 {
		t.Errorf("the log is still %d bytes after 10 s; want it truncated", n)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != rows {
		t.Errorf("after the checkpoint the table has %d rows (%v); want %d", n, err, rows)
	}
}
