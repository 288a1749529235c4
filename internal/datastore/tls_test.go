package datastore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/internal/e2e/dbharness"
	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// TestIntegrationKineVerifiesTLS starts kine itself, without Check in
// front of it, on PostgreSQL and MariaDB that take skiff's user only over
// TLS with a client certificate: with the right files it serves, so kine
// speaks TLS and shows the certificate; with a CA that did not sign the
// server's certificate it never gets in, so kine verifies the server
// rather than trusting whatever answers.
func TestIntegrationKineVerifiesTLS(t *testing.T) {
	eachTLSStore(t, func(t *testing.T, s *dbharness.Server, certs, other dbharness.Certs) {
		kine := func(ca string) *Datastore {
			sock := harness.ScratchDir(t, "skf-kine-")
			return &Datastore{Endpoint: s.Endpoint, Socket: filepath.Join(sock, "kine.sock"), Timeout: 10 * time.Second,
				TLS: TLSFiles{CAFile: ca, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}}
		}
		stop := func(d *Datastore) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := d.Stop(ctx); err != nil {
				t.Errorf("stopping kine: %v", err)
			}
		}

		good := kine(certs.CA)
		if err := good.Start(context.Background()); err != nil {
			t.Fatalf("kine with the right CA and client certificate: %v", err)
		}
		if err := good.Ready(context.Background()); err != nil {
			t.Errorf("kine with the right CA and client certificate is not ready: %v", err)
		}
		stop(good)

		bad := kine(other.CA)
		err := bad.Start(context.Background())
		if err == nil {
			err = bad.Ready(context.Background())
		}
		stop(bad)
		if err == nil {
			t.Fatal("kine served with a CA that did not sign the server's certificate")
		}
		t.Logf("with the wrong CA, as it should: %v", err)
	})
}

// eachTLSStore runs check, in parallel, against a PostgreSQL and a MariaDB
// that take skiff's user only over TLS with a client certificate, both
// signed by certs; other's CA signed nothing of theirs.
func eachTLSStore(t *testing.T, check func(t *testing.T, s *dbharness.Server, certs, other dbharness.Certs)) {
	if testing.Short() {
		t.Skip("integration: starts PostgreSQL and MariaDB")
	}
	for _, tc := range []struct {
		name  string
		start func(testing.TB, dbharness.TLS) *dbharness.Server
	}{
		{"postgres", dbharness.PostgresTLS},
		{"mariadb", dbharness.MariaDBTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			certs, err := dbharness.MakeCerts(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			other, err := dbharness.MakeCerts(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			check(t, tc.start(t, dbharness.TLS{Certs: certs, ClientCert: true}), certs, other)
		})
	}
}
