package datastore

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/internal/e2e/dbharness"
)

func TestCheckRefusesUnreadableTLSFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		tls  TLSFiles
		want string
	}{
		{"missing_ca", TLSFiles{CAFile: filepath.Join(dir, "nope.crt")}, "--datastore-cafile " + filepath.Join(dir, "nope.crt") + " cannot be read"},
		{"cert_without_key", TLSFiles{CertFile: filepath.Join(dir, "c.crt")}, "--datastore-certfile and --datastore-keyfile go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Datastore{Endpoint: "https://127.0.0.1:1", Timeout: time.Second, TLS: tc.tls}
			err := d.Check(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %v; want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestEtcdTLSOnlyForPassthrough(t *testing.T) {
	files := TLSFiles{CAFile: "ca", CertFile: "c", KeyFile: "k"}
	if got := (&Datastore{Endpoint: "https://e:2379", TLS: files}).EtcdTLS(); got != files {
		t.Errorf("EtcdTLS for an etcd endpoint = %+v, want %+v", got, files)
	}
	if got := (&Datastore{Endpoint: "postgres://u:p@db/k", Socket: "/s", TLS: files}).EtcdTLS(); !got.Empty() {
		t.Errorf("EtcdTLS for kine's socket = %+v, want none: the TLS files are kine's, to reach PostgreSQL", got)
	}
}

// TestIntegrationCheckRealStores runs Check against real PostgreSQL,
// MariaDB and etcd servers: the right credentials pass; a wrong password
// or a missing client certificate is refused at once, with the endpoint
// (password hidden) and what to check.
func TestIntegrationCheckRealStores(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: starts PostgreSQL, MariaDB and etcd")
	}
	wrongPassword := func(ep string) string { return strings.Replace(ep, dbharness.Password, "wrong-pw", 1) }
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *dbharness.Server
	}{
		{"postgres", dbharness.Postgres},
		{"mariadb", dbharness.MariaDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t)
			good := &Datastore{Endpoint: s.Endpoint, Timeout: 20 * time.Second}
			if err := good.Check(context.Background()); err != nil {
				t.Errorf("Check with the right password: %v", err)
			}
			bad := &Datastore{Endpoint: wrongPassword(s.Endpoint), Timeout: 20 * time.Second}
			begin := time.Now()
			err := bad.Check(context.Background())
			took := time.Since(begin)
			if err == nil {
				t.Fatal("Check with a wrong password passed")
			}
			t.Logf("refused after %v: %v", took.Round(time.Millisecond), err)
			for _, want := range []string{"refused skiff's credentials", "skiff:***@", "check the user and password"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the refusal does not say %q", want)
				}
			}
			if strings.Contains(err.Error(), "wrong-pw") {
				t.Errorf("the refusal shows the password")
			}
			if took > 5*time.Second {
				t.Errorf("the refusal took %v; a wrong password should not be waited on", took)
			}
		})
	}
	t.Run("etcd_tls", func(t *testing.T) {
		t.Parallel()
		certs, err := dbharness.MakeCerts(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		s := dbharness.Etcd(t, dbharness.EtcdOptions{TLS: &certs})
		good := &Datastore{Endpoint: s.Endpoint, Timeout: 20 * time.Second,
			TLS: TLSFiles{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}}
		if err := good.Check(context.Background()); err != nil {
			t.Errorf("Check with the client certificate: %v", err)
		}
		for name, files := range map[string]TLSFiles{"no_files": {}, "ca_only": {CAFile: certs.CA}} {
			bad := &Datastore{Endpoint: s.Endpoint, Timeout: 20 * time.Second, TLS: files}
			begin := time.Now()
			err := bad.Check(context.Background())
			if err == nil {
				t.Errorf("%s: Check passed", name)
				continue
			}
			t.Logf("%s: refused after %v: %v", name, time.Since(begin).Round(time.Millisecond), err)
			if !strings.Contains(err.Error(), "--datastore-certfile") || time.Since(begin) > 5*time.Second {
				t.Errorf("%s: want a prompt refusal naming the TLS flags", name)
			}
		}
	})
}

// TestCheckSaysItOnOneLine: pgx lists each address it tried on a line of
// its own; the refusal must still be one line on stderr.
func TestCheckSaysItOnOneLine(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	d := &Datastore{Endpoint: "postgres://u:pw@" + closed + "/db", Timeout: time.Second}
	err = d.Check(context.Background())
	if err == nil {
		t.Fatal("Check passed with nothing listening")
	}
	if strings.ContainsAny(err.Error(), "\n\t") || !strings.Contains(err.Error(), "cannot reach datastore postgres://u:***@") {
		t.Errorf("want one line saying the datastore cannot be reached, got %q", err)
	}
}
