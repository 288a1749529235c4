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
func StartPostgres() (*Server, error) { return startPostgres(nil) }

// StartPostgresTLS is StartPostgres with a server that takes skiff's user
// only over TLS (and only with a client certificate, if o says so). Its
// Endpoint leaves sslmode to skiff, which verifies the server against
// --datastore-cafile.
func StartPostgresTLS(o TLS) (*Server, error) { return startPostgres(&o) }

func startPostgres(o *TLS) (*Server, error) {
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
	args := []string{"-D", data, "-p", strconv.Itoa(s.Port), "-k", data, "-c", "listen_addresses=127.0.0.1"}
	if o != nil {
		ssl, err := postgresSSL(*o, data, pg)
		if err != nil {
			return s.failed(fmt.Errorf("setting PostgreSQL up for TLS: %w", err))
		}
		args = append(args, ssl...)
	}
	if err := s.launch(command(&pg, filepath.Join(bin, "postgres"), args...)); err != nil {
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
	s.Endpoint = fmt.Sprintf("postgres://skiff:%s@127.0.0.1:%d/kine", Password, s.Port)
	if o == nil {
		s.Endpoint += "?sslmode=disable"
	}
	return s, nil
}

// postgresSSL writes the serving pair into the data dir and a pg_hba.conf
// that takes TCP logins over TLS only (hostssl; a plain connection finds
// no entry), with the password and, for ClientCert, a certificate whose
// name is the user's. It returns the server's TLS settings.
func postgresSSL(o TLS, data string, pg account) ([]string, error) {
	cert, key, ca, err := o.serverFiles(data, pg)
	if err != nil {
		return nil, err
	}
	host := "hostssl all all 127.0.0.1/32 scram-sha-256"
	if o.ClientCert {
		host += " clientcert=verify-full"
	}
	hba := "local all all trust\n" + host + "\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return nil, err
	}
	return []string{"-c", "ssl=on", "-c", "ssl_cert_file=" + cert, "-c", "ssl_key_file=" + key, "-c", "ssl_ca_file=" + ca}, nil
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

// PostgresTLS is StartPostgresTLS for a test, stopped at its end.
func PostgresTLS(t testing.TB, o TLS) *Server {
	t.Helper()
	s, err := StartPostgresTLS(o)
	if err != nil {
		t.Fatalf("starting PostgreSQL with TLS: %v", err)
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
