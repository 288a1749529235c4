package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/internal/e2e/dbharness"
)

// target is a store with its server(s) running and ready for the load:
// the client the load goes through, the store's size on disk, how to add
// the server's log to an error, and how to stop everything.
type target struct {
	client kubernetes.Interface
	size   func() (int64, error)
	fail   func(error) error
	stop   func()
	// about, if not empty, is said before the figures: where the servers
	// run and which one takes the load, when that is not obvious.
	about string
}

// A store starts a datastore and the server(s) on it.
type store struct {
	start func(ctx context.Context, o options) (*target, error)
	// containers: the store runs its servers in node containers, so the
	// node image must be there.
	containers bool
}

// stores are the datastores the bench knows, by -stores name. A store
// skiff runs itself on the host needs only its flags and where it keeps
// its data.
var stores = map[string]store{
	"sqlite":        onHost(self(nil, "server/db")),
	"embedded-etcd": onHost(self([]string{"--cluster-init"}, "server/db/etcd")),
	// Three members, each in a server of its own, as HA runs: they need
	// three machines, so three node containers.
	"embedded-etcd-3": {start: startCluster, containers: true},
	"postgres":        onHost(external(dbharness.StartPostgres, postgresSize)),
	"mariadb":         onHost(external(dbharness.StartMariaDB, dirSize("data/kine"))),
	"etcd":            onHost(external(func() (*dbharness.Server, error) { return dbharness.StartEtcd(dbharness.EtcdOptions{}) }, dirSize("data"))),
}

func storeNames() []string {
	var names []string
	for n := range stores {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// running is a store ready for a server on the host: the server's
// datastore flags, how to read the store's size on disk, how to stop it.
type running struct {
	args []string
	size func(dataDir string) (int64, error)
	stop func()
}

// onHost is a store whose server is `skiff server --disable-agent` on the
// host, on loopback.
func onHost(start func() (running, error)) store {
	return store{start: func(ctx context.Context, o options) (*target, error) {
		st, err := start()
		if err != nil {
			return nil, fmt.Errorf("starting the store: %w", err)
		}
		srv, err := startServer(ctx, o.bin, st.args, o.keep, o.readyWait)
		if err != nil {
			st.stop()
			return nil, err
		}
		client, err := adminClient(srv)
		if err != nil {
			srv.Cleanup()
			st.stop()
			return nil, err
		}
		return &target{
			client: client,
			size:   func() (int64, error) { return st.size(srv.DataDir) },
			fail:   srv.Fail,
			stop:   func() { srv.Cleanup(); st.stop() },
		}, nil
	}}
}

// self is a store the server runs in its data dir, in the folder dbDir
// (for SQLite, the file with its WAL).
func self(args []string, dbDir string) func() (running, error) {
	return func() (running, error) {
		return running{
			args: args,
			size: func(dataDir string) (int64, error) { return du(filepath.Join(dataDir, dbDir)) },
			stop: func() {},
		}, nil
	}
}

// external is a database server the bench starts, whose size size reads.
func external(start func() (*dbharness.Server, error), size func(*dbharness.Server) (int64, error)) func() (running, error) {
	return func() (running, error) {
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
	}
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
