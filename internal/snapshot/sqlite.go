package snapshot

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"

	// The driver kine uses; registered as "sqlite3".
	_ "github.com/mattn/go-sqlite3"
)

// sqliteMagic starts every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// saveSQLite copies the database at dbPath into dest (an empty file) while
// the server may be writing to it. VACUUM INTO reads the database in one
// read transaction, so the copy is consistent as of one moment; in WAL mode
// that transaction never blocks kine's writers. It also leaves out the free
// pages kine's compaction leaves behind, so the copy is often much smaller
// than state.db. The backup API would copy those pages too.
func saveSQLite(ctx context.Context, dbPath, dest string) error {
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("the SQLite database: %w", err)
	}
	// mode=rw: never create a database where there was none.
	db, err := sql.Open("sqlite3", "file:"+escapePath(dbPath)+"?mode=rw&_busy_timeout=30000")
	if err != nil {
		return fmt.Errorf("opening %s: %w", dbPath, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return fmt.Errorf("copying %s: %w", dbPath, err)
	}
	// VACUUM INTO does not sync what it wrote.
	f, err := os.OpenFile(dest, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dest, err)
	}
	return nil
}

// VerifySQLite checks that file is a whole SQLite database holding kine's
// table: what a skiff SQLite snapshot is. It only reads the file.
func VerifySQLite(file string) error {
	if kind, err := fileKind(file); err != nil {
		return err
	} else if kind != kindSQLite {
		return fmt.Errorf("%s is not a SQLite database (%s)", file, kind)
	}
	// immutable=1: read the file as it is, without locks and without
	// creating -wal or -shm files beside it.
	db, err := sql.Open("sqlite3", "file:"+escapePath(file)+"?mode=ro&immutable=1")
	if err != nil {
		return fmt.Errorf("opening %s: %w", file, err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&result); err != nil {
		return fmt.Errorf("%s is not a readable SQLite database: %w", file, err)
	}
	if result != "ok" {
		return fmt.Errorf("%s is damaged: SQLite's integrity check says %q", file, result)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'kine'").Scan(&n); err != nil {
		return fmt.Errorf("reading the tables of %s: %w", file, err)
	}
	if n != 1 {
		return fmt.Errorf("%s is a SQLite database but not skiff's: it has no kine table", file)
	}
	return nil
}

// escapePath keeps '?' and '#' in a path from ending it in a file: URI.
func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

// The kinds of file a snapshot may be.
const (
	kindSQLite = "SQLite"
	kindEtcd   = "etcd"
)

// fileKind tells a SQLite snapshot from an etcd one (a bbolt file) by
// their first bytes; anything else is described for the error.
func fileKind(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 32)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading %s: %w", file, err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, sqliteMagic):
		return kindSQLite, nil
	case isBolt(head):
		return kindEtcd, nil
	case n == 0:
		return "an empty file", nil
	default:
		return "its first bytes are neither SQLite's nor etcd's", nil
	}
}

// isBolt recognises bbolt's meta page: the magic 0xED0CDAED after the
// 16-byte page header, in the machine's byte order (little-endian here).
func isBolt(head []byte) bool {
	return len(head) >= 20 && bytes.Equal(head[16:20], []byte{0xed, 0xda, 0x0c, 0xed})
}
