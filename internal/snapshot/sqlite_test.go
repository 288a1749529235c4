package snapshot

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// newKineDB makes a data dir whose state.db holds a kine table in WAL mode,
// as the server's does, and returns the store and an open writer.
func newKineDB(t *testing.T) (Store, *sql.DB) {
	t.Helper()
	s := Store{DataDir: t.TempDir()}
	if err := os.MkdirAll(filepath.Dir(s.SQLitePath()), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+s.SQLitePath()+"?_journal_mode=WAL&_busy_timeout=30000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE kine (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, value BLOB)"); err != nil {
		t.Fatal(err)
	}
	return s, db
}

func put(t *testing.T, db *sql.DB, name string) {
	t.Helper()
	if _, err := db.Exec("INSERT INTO kine (name, value) VALUES (?, ?)", name, strings.Repeat("v", 100)); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, file, where string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+file+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM kine WHERE " + where).Scan(&n); err != nil {
		t.Fatalf("counting rows of %s: %v", file, err)
	}
	return n
}

// TestSaveSQLiteWhileWriting: a snapshot taken while another connection
// writes is a whole, checked database holding at least what was committed
// before the save began, under k3s's file name, mode 0600, and no partial
// file is left behind.
func TestSaveSQLiteWhileWriting(t *testing.T) {
	s, db := newKineDB(t)
	for i := range 200 {
		put(t, db, fmt.Sprintf("before-%d", i))
	}
	var stop atomic.Bool
	done := make(chan error)
	go func() {
		for i := 0; !stop.Load(); i++ {
			if _, err := db.Exec("INSERT INTO kine (name, value) VALUES (?, ?)", fmt.Sprintf("during-%d", i), "x"); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	dir := filepath.Join(s.DataDir, "snaps")
	info, err := s.Save(context.Background(), SaveOptions{Dir: dir, NodeName: "n1", Now: func() time.Time { return time.Unix(1700000000, 0) }})
	stop.Store(true)
	if werr := <-done; werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	if info.Name != "on-demand-n1-1700000000" || info.Path() != filepath.Join(dir, info.Name) {
		t.Errorf("saved %+v, want on-demand-n1-1700000000 in %s", info, dir)
	}
	if err := VerifySQLite(info.Path()); err != nil {
		t.Errorf("the snapshot does not verify: %v", err)
	}
	if n := count(t, info.Path(), "name LIKE 'before-%'"); n != 200 {
		t.Errorf("snapshot holds %d of the 200 rows committed before the save", n)
	}
	if st, _ := os.Stat(info.Path()); st.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode %v, want 0600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("snapshots folder holds %d entries, want the snapshot only", len(entries))
	}
}

func TestSaveWithoutAStore(t *testing.T) {
	s := Store{DataDir: t.TempDir()}
	_, err := s.Save(context.Background(), SaveOptions{NodeName: "n1"})
	if err == nil || !strings.Contains(err.Error(), "no skiff datastore") {
		t.Errorf("Save on an empty data dir: %v; want 'no skiff datastore'", err)
	}
	if _, err := os.Stat(DefaultDir(s.DataDir)); err == nil {
		t.Error("a failed save created the snapshots folder")
	}
}

func TestVerifySQLiteRefusesWhatIsNotASnapshot(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text")
	os.WriteFile(text, []byte("hello, this is not a database at all"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	other := filepath.Join(dir, "other.db")
	db, _ := sql.Open("sqlite3", "file:"+other)
	db.Exec("CREATE TABLE t (x)")
	db.Close()
	truncated := filepath.Join(dir, "truncated")
	s, w := newKineDB(t)
	for i := range 500 {
		put(t, w, fmt.Sprint(i))
	}
	info, err := s.Save(context.Background(), SaveOptions{NodeName: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(info.Path())
	os.WriteFile(truncated, b[:len(b)/2], 0o600)

	for file, want := range map[string]string{
		text:                          "not a SQLite database",
		empty:                         "not a SQLite database",
		other:                         "no kine table",
		truncated:                     "",
		filepath.Join(dir, "missing"): "no such file",
	} {
		err := VerifySQLite(file)
		if err == nil {
			t.Errorf("VerifySQLite(%s) accepted it", filepath.Base(file))
		} else if !strings.Contains(err.Error(), want) {
			t.Errorf("VerifySQLite(%s) = %v; want it to say %q", filepath.Base(file), err, want)
		}
	}
	for _, f := range []string{text, other} {
		if _, err := os.Stat(f + "-wal"); err == nil {
			t.Errorf("verifying %s left a -wal file", f)
		}
	}
}

// TestRestoreSQLite: the snapshot replaces state.db, the old database and
// its write-ahead log are kept aside whole, and a bad file or a running
// server changes nothing.
func TestRestoreSQLite(t *testing.T) {
	s, db := newKineDB(t)
	put(t, db, "in-snapshot")
	info, err := s.Save(context.Background(), SaveOptions{NodeName: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	put(t, db, "after-snapshot")
	// The writer stays open, as after a kill -9: the newest row may be in
	// the -wal file only.
	old, _ := os.ReadFile(s.SQLitePath())

	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("nope"), 0o600)
	if _, err := s.RestoreSQLite(bad); err == nil {
		t.Fatal("RestoreSQLite of a text file succeeded")
	}
	if now, _ := os.ReadFile(s.SQLitePath()); string(now) != string(old) {
		t.Error("a refused restore changed state.db")
	}

	// A server's kine socket that answers: refused.
	l, err := net.Listen("unix", s.kineSocket())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RestoreSQLite(info.Path()); err == nil || !strings.Contains(err.Error(), "running") {
		t.Errorf("RestoreSQLite with the server running: %v; want a refusal saying it runs", err)
	}
	l.Close()

	db.Close()
	aside, err := s.RestoreSQLite(info.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aside, s.SQLitePath()+".pre-restore-") {
		t.Errorf("old database kept as %q", aside)
	}
	if n := count(t, s.SQLitePath(), "name = 'after-snapshot'"); n != 0 {
		t.Error("the restored database holds a row written after the snapshot")
	}
	if n := count(t, s.SQLitePath(), "name = 'in-snapshot'"); n != 1 {
		t.Error("the restored database lacks the snapshot's row")
	}
	if n := count(t, aside, "name = 'after-snapshot'"); n != 1 {
		t.Error("the database kept aside lost its newest row")
	}
	if _, err := os.Stat(info.Path()); err != nil {
		t.Errorf("the snapshot itself is gone after the restore: %v", err)
	}
}
