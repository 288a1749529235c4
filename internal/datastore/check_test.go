package datastore

import (
	"context"
	"fmt"
	"net"
	"os"
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
	eachSQLStore(t, func(t *testing.T, s *dbharness.Server) {
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
			if !strings.Contains(err.Error(), "--datastore-cafile") || time.Since(begin) > 5*time.Second {
				t.Errorf("%s: want a prompt refusal naming the TLS flags", name)
			}
		}
	})
}

// eachSQLStore runs check, in parallel, against a fresh PostgreSQL and a
// fresh MariaDB.
func eachSQLStore(t *testing.T, check func(t *testing.T, s *dbharness.Server)) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *dbharness.Server
	}{
		{"postgres", dbharness.Postgres},
		{"mariadb", dbharness.MariaDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			check(t, tc.start(t))
		})
	}
}

// TestCheckRefusesTLSFilesTheEndpointWouldIgnore: an endpoint whose own
// TLS parameters would make kine skip the files, or not verify the store
// with them, is refused before anything is dialled.
func TestCheckRefusesTLSFilesTheEndpointWouldIgnore(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, []byte("a CA"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		endpoint string
		want     string // "" for no refusal of this kind
	}{
		{"postgres://u:pw@127.0.0.1:1/k?sslmode=disable", "sslmode=disable, which would not verify"},
		{"postgres://u:pw@127.0.0.1:1/k?sslmode=prefer", "sslmode=prefer"},
		{"postgresql://u:pw@127.0.0.1:1/k?sslmode=allow", "sslmode=allow"},
		{"postgres://u:pw@127.0.0.1:1/k?sslmode=verify-ca", ""},
		{"postgres://u:pw@127.0.0.1:1/k", ""},
		{"mysql://u:pw@tcp(127.0.0.1:1)/k?tls=skip-verify", "tls=skip-verify, which would take the place of --datastore-cafile"},
		{"mysql://u:pw@tcp(127.0.0.1:1)/k?tls=true", "remove tls= from it"},
		{"mysql://u:pw@tcp(127.0.0.1:1)/k", ""},
	} {
		d := &Datastore{Endpoint: tc.endpoint, Timeout: time.Second, TLS: TLSFiles{CAFile: ca}}
		err := d.checkTLSParams()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused (%v); want it let through to the probe", tc.endpoint, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: checkTLSParams = %v; want a refusal saying %q", tc.endpoint, err, tc.want)
		}
		if strings.Contains(fmt.Sprint(err), "pw") {
			t.Errorf("%s: the refusal shows the password: %v", tc.endpoint, err)
		}
	}
	plain := &Datastore{Endpoint: "postgres://u:pw@127.0.0.1:1/k?sslmode=disable"}
	if err := plain.checkTLSParams(); err != nil {
		t.Errorf("sslmode=disable without TLS files refused: %v", err)
	}
}

// TestIntegrationCheckRealStoresTLS runs Check against PostgreSQL and
// MariaDB that take skiff's user only over TLS with a client certificate:
// the right files pass, and a CA that did not sign the server's
// certificate, or no client certificate, are refused at once.
func TestIntegrationCheckRealStoresTLS(t *testing.T) {
	eachTLSStore(t, func(t *testing.T, s *dbharness.Server, certs, other dbharness.Certs) {
		good := &Datastore{Endpoint: s.Endpoint, Timeout: 20 * time.Second,
			TLS: TLSFiles{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}}
		if err := good.Check(context.Background()); err != nil {
			t.Errorf("Check with the CA and the client certificate: %v", err)
		}
		for _, bad := range []struct {
			name  string
			files TLSFiles
			want  string
		}{
			{"wrong_ca", TLSFiles{CAFile: other.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}, "certificate skiff does not trust"},
			{"no_client_certificate", TLSFiles{CAFile: certs.CA}, "--datastore-certfile"},
		} {
			d := &Datastore{Endpoint: s.Endpoint, Timeout: 20 * time.Second, TLS: bad.files}
			begin := time.Now()
			err := d.Check(context.Background())
			took := time.Since(begin)
			if err == nil {
				t.Errorf("%s: Check passed", bad.name)
				continue
			}
			t.Logf("%s: refused after %v: %v", bad.name, took.Round(time.Millisecond), err)
			if !strings.Contains(err.Error(), bad.want) || took > 5*time.Second {
				t.Errorf("%s: want a prompt refusal saying %q", bad.name, bad.want)
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
