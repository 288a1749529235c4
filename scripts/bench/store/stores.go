package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/skiff-k8s/skiff/internal/e2e/dbharness"
)

// running is a store ready for a server: the server's datastore flags,
// how to read the store's size on disk, and how to stop it.
type running struct {
	args []string
	size func(dataDir string) (int64, error)
	stop func()
}

// A store starts what the server needs beside it (nothing for the stores
// skiff runs itself).
type store struct{ start func() (running, error) }

// stores are the datastores the bench knows, by -stores name. One line
// each: a store skiff runs itself needs only its flags and where it keeps
// its data, e.g. embedded etcd:
//
//	"embedded-etcd": self([]string{"--cluster-init"}, "server/db/etcd"),
var stores = map[string]store{
	"sqlite":   self(nil, "server/db"),
	"postgres": external(dbharness.StartPostgres, postgresSize),
	"mariadb":  external(dbharness.StartMariaDB, dirSize("data/kine")),
	"etcd":     external(func() (*dbharness.Server, error) { return dbharness.StartEtcd(dbharness.EtcdOptions{}) }, dirSize("data")),
}

func storeNames() []string {
	var names []string
	for n := range stores {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// self is a store the server runs in its data dir, in the folder dbDir
// (for SQLite, the file with its WAL).
func self(args []string, dbDir string) store {
	return store{start: func() (running, error) {
		return running{
			args: args,
			size: func(dataDir string) (int64, error) { return du(filepath.Join(dataDir, dbDir)) },
			stop: func() {},
		}, nil
	}}
}

// external is a database server the bench starts, whose size size reads.
func external(start func() (*dbharness.Server, error), size func(*dbharness.Server) (int64, error)) store {
	return store{start: func() (running, error) {
		s, err := start()
		if err != nil {
			return running{}, err
		}
		return running{
			args: []string{"--datastore-endpoint", s.Endpoint},
			size: func(string) (int64, error) { return size(s) },
			stop: func() {
				if err := s.Stop(); err != nil {
					fmt.Fprintln(os.Stderr, "bench:", err)
				}
			},
		}, nil
	}}
}

// dirSize is the size of a folder under the database server's dir.
func dirSize(rel string) func(*dbharness.Server) (int64, error) {
	return func(s *dbharness.Server) (int64, error) { return du(filepath.Join(s.Dir, rel)) }
}

// postgresSize is the kine database's size as PostgreSQL counts it (its
// files; the server's shared WAL is not in it).
func postgresSize(s *dbharness.Server) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.Endpoint)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, "SELECT pg_database_size('kine')").Scan(&n)
	return n, err
}

// du is the bytes the regular files under dir hold.
func du(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}
