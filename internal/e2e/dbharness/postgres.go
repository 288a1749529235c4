package dbharness

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
)

// Password is the password of skiff's user in every database started
// here; the user is "skiff" and the database "kine".
const Password = "skiff-e2e-pw"

// StartPostgres runs a PostgreSQL server as the postgres user on a free
// loopback port, with a skiff user (password authentication over TCP, as a
// remote server would have) owning a kine database.
func StartPostgres() (*Server, error) {
	pg, err := lookup("postgres")
	if err != nil {
		return nil, err
	}
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	dir, err := newDir("pg")
	if err != nil {
		return nil, err
	}
	s := &Server{Kind: "postgres", Dir: dir, stopSignal: syscall.SIGINT} // SIGINT: fast shutdown
	data := filepath.Join(dir, "data")
	if err := mkdirOwned(data, pg); err != nil {
		return s.failed(err)
	}
	// Local (socket) connections are trusted for the set-up below; TCP
	// ones, skiff's, must give a password.
	if err := run(command(&pg, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")); err != nil {
		return s.failed(fmt.Errorf("initdb: %w", err))
	}
	if s.Port, err = freePort(); err != nil {
		return s.failed(err)
	}
	if err := s.launch(command(&pg, filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.Port),
		"-k", data, "-c", "listen_addresses=127.0.0.1")); err != nil {
		return s.failed(err)
	}
	psql := func(sql string) error {
		return run(command(&pg, filepath.Join(bin, "psql"), "-h", data, "-p", strconv.Itoa(s.Port),
			"-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql))
	}
	if err := s.waitFor(func() error { return psql("SELECT 1") }); err != nil {
		return s.failed(err)
	}
	if err := psql(fmt.Sprintf("CREATE ROLE skiff LOGIN PASSWORD '%s'", Password)); err != nil {
		return s.failed(err)
	}
	if err := psql("CREATE DATABASE kine OWNER skiff"); err != nil {
		return s.failed(err)
	}
	s.Endpoint = fmt.Sprintf("postgres://skiff:%s@127.0.0.1:%d/kine?sslmode=disable", Password, s.Port)
	return s, nil
}

// Postgres is StartPostgres for a test, stopped at its end.
func Postgres(t testing.TB) *Server {
	t.Helper()
	s, err := StartPostgres()
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	cleanup(t, s)
	return s
}

// postgresBin is the newest installed PostgreSQL's bin dir (Debian
// installs them side by side under /usr/lib/postgresql/<major>).
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server under /usr/lib/postgresql: scripts/deps --test installs it (Debian: postgresql)")
}
