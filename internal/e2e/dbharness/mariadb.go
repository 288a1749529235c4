package dbharness

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// StartMariaDB runs a MariaDB server as the mysql user on a free loopback
// port, with a skiff user (password authentication over TCP) that owns a
// kine database.
func StartMariaDB() (*Server, error) { return startMariaDB(nil) }

// StartMariaDBTLS is StartMariaDB with a server that takes connections over
// TCP only with TLS (and skiff's user only with a client certificate, if o
// says so).
func StartMariaDBTLS(o TLS) (*Server, error) { return startMariaDB(&o) }

func startMariaDB(o *TLS) (*Server, error) {
	my, err := lookup("mysql")
	if err != nil {
		return nil, err
	}
	for _, cmd := range []string{"mariadb-install-db", "mariadbd", "mariadb"} {
		if _, err := exec.LookPath(cmd); err != nil {
			if _, err := exec.LookPath("/usr/sbin/" + cmd); err != nil {
				return nil, fmt.Errorf("%s is not installed: scripts/deps --test installs it (Debian: mariadb-server)", cmd)
			}
		}
	}
	dir, err := newDir("my")
	if err != nil {
		return nil, err
	}
	s := &Server{Kind: "mariadb", Dir: dir, stopSignal: syscall.SIGTERM}
	// The socket and pid file sit beside the data, in a folder the
	// server's user can write.
	run1 := filepath.Join(dir, "run")
	data := filepath.Join(dir, "data")
	for _, d := range []string{run1, data} {
		if err := mkdirOwned(d, my); err != nil {
			return s.failed(err)
		}
	}
	socket := filepath.Join(run1, "mysqld.sock")
	if err := run(command(&my, "mariadb-install-db", "--no-defaults", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db")); err != nil {
		return s.failed(fmt.Errorf("mariadb-install-db: %w", err))
	}
	if s.Port, err = freePort(); err != nil {
		return s.failed(err)
	}
	args := []string{"--no-defaults", "--datadir=" + data,
		"--port=" + strconv.Itoa(s.Port), "--bind-address=127.0.0.1", "--socket=" + socket,
		"--pid-file=" + filepath.Join(run1, "mysqld.pid"), "--skip-name-resolve"}
	require := ""
	if o != nil {
		cert, key, ca, err := o.serverFiles(run1, my)
		if err != nil {
			return s.failed(fmt.Errorf("setting MariaDB up for TLS: %w", err))
		}
		// The set-up below goes over the socket, which MariaDB counts as
		// secure.
		args = append(args, "--ssl-cert="+cert, "--ssl-key="+key, "--ssl-ca="+ca, "--require-secure-transport=ON")
		if o.ClientCert {
			require = " REQUIRE X509"
		}
	}
	if err := s.launch(command(&my, "/usr/sbin/mariadbd", args...)); err != nil {
		return s.failed(err)
	}
	sql := func(stmt string) error {
		return run(command(nil, "mariadb", "--no-defaults", "-S", socket, "-u", "root", "-e", stmt))
	}
	if err := s.waitFor(func() error { return sql("SELECT 1") }); err != nil {
		return s.failed(err)
	}
	if err := sql(fmt.Sprintf("CREATE DATABASE kine; CREATE USER 'skiff'@'%%' IDENTIFIED BY '%s'%s; GRANT ALL ON kine.* TO 'skiff'@'%%';", Password, require)); err != nil {
		return s.failed(err)
	}
	s.Endpoint = fmt.Sprintf("mysql://skiff:%s@tcp(127.0.0.1:%d)/kine", Password, s.Port)
	return s, nil
}

// MariaDB is StartMariaDB for a test, stopped at its end.
func MariaDB(t testing.TB) *Server {
	t.Helper()
	s, err := StartMariaDB()
	if err != nil {
		t.Fatalf("starting MariaDB: %v", err)
	}
	cleanup(t, s)
	return s
}

// MariaDBTLS is StartMariaDBTLS for a test, stopped at its end.
func MariaDBTLS(t testing.TB, o TLS) *Server {
	t.Helper()
	s, err := StartMariaDBTLS(o)
	if err != nil {
		t.Fatalf("starting MariaDB with TLS: %v", err)
	}
	cleanup(t, s)
	return s
}
