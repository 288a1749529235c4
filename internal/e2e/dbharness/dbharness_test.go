package dbharness

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"go.etcd.io/etcd/client/pkg/v3/transport"
)

// TestIntegrationDatabases starts each database as the datastore tests
// do and checks that skiff's user can log in with the password over TCP,
// and that Stop leaves nothing behind.
func TestIntegrationDatabases(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: starts PostgreSQL, MariaDB and etcd")
	}
	for _, tc := range []struct {
		name  string
		start func() (*Server, error)
		dsn   func(*Server) (driver, dsn string)
	}{
		{"postgres", StartPostgres, func(s *Server) (string, string) { return "pgx", s.Endpoint }},
		{"mariadb", StartMariaDB, func(s *Server) (string, string) {
			return "mysql", "skiff:" + Password + "@tcp(127.0.0.1:" + strconv.Itoa(s.Port) + ")/kine"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := tc.start()
			if err != nil {
				t.Fatal(err)
			}
			driver, dsn := tc.dsn(s)
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := db.ExecContext(ctx, "CREATE TABLE t (k int)"); err != nil {
				t.Errorf("skiff's user cannot create a table in kine: %v", err)
			}
			db.Close()
			stopAndCheckGone(t, s)
		})
	}
	for _, tc := range []struct {
		name  string
		start func(TLS) (*Server, error)
		// open logs skiff's user in over TLS with the CA and, when given,
		// the client pair; or over plain TCP when tls is false.
		open func(s *Server, c Certs, tls, clientCert bool) (*sql.DB, error)
	}{
		{"postgres_tls", StartPostgresTLS, openPostgres},
		{"mariadb_tls", StartMariaDBTLS, openMariaDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			certs, err := MakeCerts(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			s, err := tc.start(TLS{Certs: certs, ClientCert: true})
			if err != nil {
				t.Fatal(err)
			}
			login := func(tls, clientCert bool) error {
				db, err := tc.open(s, certs, tls, clientCert)
				if err != nil {
					return err
				}
				defer db.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return db.PingContext(ctx)
			}
			if err := login(true, true); err != nil {
				t.Errorf("skiff's user cannot log in over TLS with its client certificate: %v", err)
			}
			if err := login(true, false); err == nil {
				t.Errorf("skiff's user logged in over TLS without a client certificate")
			} else {
				t.Logf("without a client certificate, refused as it should: %v", err)
			}
			if err := login(false, false); err == nil {
				t.Errorf("skiff's user logged in without TLS")
			} else {
				t.Logf("without TLS, refused as it should: %v", err)
			}
			stopAndCheckGone(t, s)
		})
	}
	t.Run("etcd_tls", func(t *testing.T) {
		t.Parallel()
		certs, err := MakeCerts(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		s, err := StartEtcd(EtcdOptions{TLS: &certs})
		if err != nil {
			t.Fatal(err)
		}
		// Trusting the CA but showing no certificate of its own.
		noCert, err := (transport.TLSInfo{TrustedCAFile: certs.CA}).ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		if err := etcdAnswers(s.Endpoint, noCert); err == nil {
			t.Errorf("etcd with client-cert TLS answered a client without a certificate")
		} else {
			t.Logf("refused as it should: %v", err)
		}
		stopAndCheckGone(t, s)
	})
}

func stopAndCheckGone(t *testing.T, s *Server) {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Errorf("the %s server still runs after Stop", s.Kind)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop (%v)", s.Dir, err)
	}
}

func openPostgres(s *Server, c Certs, tls, clientCert bool) (*sql.DB, error) {
	q := url.Values{"sslmode": {"disable"}}
	if tls {
		q = url.Values{"sslmode": {"verify-full"}, "sslrootcert": {c.CA}}
		if clientCert {
			q.Set("sslcert", c.ClientCert)
			q.Set("sslkey", c.ClientKey)
		}
	}
	return sql.Open("pgx", s.Endpoint+"?"+q.Encode())
}

func openMariaDB(s *Server, c Certs, useTLS, clientCert bool) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.DBName = "skiff", Password, "tcp", "kine"
	cfg.Addr = "127.0.0.1:" + strconv.Itoa(s.Port)
	if useTLS {
		info := transport.TLSInfo{TrustedCAFile: c.CA}
		if clientCert {
			info.CertFile, info.KeyFile = c.ClientCert, c.ClientKey
		}
		tlsCfg, err := info.ClientConfig()
		if err != nil {
			return nil, err
		}
		cfg.TLS = tlsCfg
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(connector), nil
}
