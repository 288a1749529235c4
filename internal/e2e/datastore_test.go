package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/internal/e2e/dbharness"
	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// TestE2EDatastores runs the shared workload (create, list, watch, update,
// delete, a stale update refused) through a server on each store skiff
// supports: its own SQLite, and real PostgreSQL, MariaDB and etcd servers
// started by the test, each also over TLS: PostgreSQL and etcd demanding a
// client certificate, MariaDB only TLS (--datastore-cafile alone).
func TestE2EDatastores(t *testing.T) {
	integration(t)
	t.Parallel()
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) []string // the server's datastore flags
	}{
		{"sqlite", func(t *testing.T) []string { return nil }},
		{"postgres", func(t *testing.T) []string {
			return []string{"--datastore-endpoint", dbharness.Postgres(t).Endpoint}
		}},
		{"mariadb", func(t *testing.T) []string {
			return []string{"--datastore-endpoint", dbharness.MariaDB(t).Endpoint}
		}},
		{"etcd", func(t *testing.T) []string {
			return []string{"--datastore-endpoint", dbharness.Etcd(t, dbharness.EtcdOptions{}).Endpoint}
		}},
		{"etcd_tls", func(t *testing.T) []string {
			certs := makeCerts(t)
			etcd := dbharness.Etcd(t, dbharness.EtcdOptions{TLS: &certs})
			return []string{"--datastore-endpoint", etcd.Endpoint, "--datastore-cafile", certs.CA,
				"--datastore-certfile", certs.ClientCert, "--datastore-keyfile", certs.ClientKey}
		}},
		{"postgres_tls", func(t *testing.T) []string {
			certs := makeCerts(t)
			pg := dbharness.PostgresTLS(t, dbharness.TLS{Certs: certs, ClientCert: true})
			return []string{"--datastore-endpoint", pg.Endpoint, "--datastore-cafile", certs.CA,
				"--datastore-certfile", certs.ClientCert, "--datastore-keyfile", certs.ClientKey}
		}},
		{"mariadb_tls", func(t *testing.T) []string {
			certs := makeCerts(t)
			my := dbharness.MariaDBTLS(t, dbharness.TLS{Certs: certs})
			return []string{"--datastore-endpoint", my.Endpoint, "--datastore-cafile", certs.CA}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, withArgs(tc.store(t)...))
			harness.Workload(t, s.cfg.Kubeconfig)
			s.Stop()
		})
	}
}

// TestE2EDatastoreRefusals: a store that refuses skiff's credentials or
// certificate, a store whose certificate --datastore-cafile did not sign,
// TLS files that cannot be read or that the endpoint's own sslmode would
// leave unused, stop the server at once with one line naming the
// endpoint (password hidden) and what to check, and nothing is written: no
// data dir, no kubeconfig.
func TestE2EDatastoreRefusals(t *testing.T) {
	integration(t)
	t.Parallel()
	wrongPassword := func(ep string) string { return strings.Replace(ep, dbharness.Password, "wrong-pw", 1) }
	for _, tc := range []struct {
		name string
		args func(t *testing.T) []string
		want []string
	}{
		{"postgres_wrong_password", func(t *testing.T) []string {
			return []string{"--datastore-endpoint", wrongPassword(dbharness.Postgres(t).Endpoint)}
		}, []string{"postgres://skiff:***@127.0.0.1", "refused skiff's credentials", "check the user and password"}},
		{"mariadb_wrong_password", func(t *testing.T) []string {
			return []string{"--datastore-endpoint", wrongPassword(dbharness.MariaDB(t).Endpoint)}
		}, []string{"mysql://skiff:***@tcp(127.0.0.1", "refused skiff's credentials", "check the user and password"}},
		{"etcd_tls_without_client_certificate", func(t *testing.T) []string {
			certs := makeCerts(t)
			etcd := dbharness.Etcd(t, dbharness.EtcdOptions{TLS: &certs})
			return []string{"--datastore-endpoint", etcd.Endpoint, "--datastore-cafile", certs.CA}
		}, []string{"refused the TLS connection", "--datastore-certfile"}},
		{"postgres_tls_wrong_ca", func(t *testing.T) []string {
			pg := dbharness.PostgresTLS(t, dbharness.TLS{Certs: makeCerts(t)})
			return []string{"--datastore-endpoint", pg.Endpoint, "--datastore-cafile", makeCerts(t).CA}
		}, []string{"postgres://skiff:***@127.0.0.1", "certificate skiff does not trust", "--datastore-cafile"}},
		{"mariadb_tls_wrong_ca", func(t *testing.T) []string {
			my := dbharness.MariaDBTLS(t, dbharness.TLS{Certs: makeCerts(t)})
			return []string{"--datastore-endpoint", my.Endpoint, "--datastore-cafile", makeCerts(t).CA}
		}, []string{"mysql://skiff:***@tcp(127.0.0.1", "certificate skiff does not trust", "--datastore-cafile"}},
		{"postgres_tls_without_client_certificate", func(t *testing.T) []string {
			certs := makeCerts(t)
			pg := dbharness.PostgresTLS(t, dbharness.TLS{Certs: certs, ClientCert: true})
			return []string{"--datastore-endpoint", pg.Endpoint, "--datastore-cafile", certs.CA}
		}, []string{"refused skiff's credentials", "client certificate", "--datastore-certfile"}},
		{"postgres_sslmode_disable_with_cafile", func(t *testing.T) []string {
			// Refused before it is dialled: kine would keep sslmode=disable
			// and never use the CA.
			return []string{"--datastore-endpoint", "postgres://skiff:" + dbharness.Password + "@127.0.0.1:5432/kine?sslmode=disable",
				"--datastore-cafile", makeCerts(t).CA}
		}, []string{"sslmode=disable", "--datastore-cafile"}},
		{"missing_tls_file", func(t *testing.T) []string {
			return []string{"--datastore-endpoint", "https://127.0.0.1:2379", "--datastore-cafile", "/nonexistent/ca.crt"}
		}, []string{"--datastore-cafile /nonexistent/ca.crt cannot be read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newServerConfig(t)
			r := runSkiff(t, 60*time.Second, nil, append(standardArgs(c), tc.args(t)...)...)
			expectUsageError(t, r, tc.want...)
			if r.Took > 15*time.Second {
				t.Errorf("the refusal took %v; it should not wait for the datastore timeout", r.Took.Round(time.Millisecond))
			}
			if strings.Contains(r.Stderr+r.Stdout, "wrong-pw") {
				t.Errorf("skiff's output shows the datastore password")
			}
			mustNotExist(t, c.DataDir, tc.name)
			mustNotExist(t, c.Kubeconfig, tc.name)
		})
	}
}

// makeCerts is a fresh test CA with its serving and client pairs.
func makeCerts(t *testing.T) dbharness.Certs {
	t.Helper()
	certs, err := dbharness.MakeCerts(t.TempDir())
	if err != nil {
		t.Fatalf("making test certificates: %v", err)
	}
	return certs
}

// TestE2ETwoServersSharePostgres: a second server joins the first with its
// token and the same PostgreSQL. Both serve the API, a write through one
// is read through the other, one controller-manager holds the leader
// Lease while the other waits, and when the first stops the second goes
// on serving and takes the Lease over.
func TestE2ETwoServersSharePostgres(t *testing.T) {
	integration(t)
	t.Parallel()
	pg := dbharness.Postgres(t)
	first := startServer(t, withArgs("--datastore-endpoint", pg.Endpoint))
	tok, err := os.ReadFile(filepath.Join(first.cfg.DataDir, "server", "token"))
	if err != nil {
		t.Fatalf("reading the first server's token: %v", err)
	}
	second := startServer(t, withArgs("--datastore-endpoint", pg.Endpoint,
		"--server", first.url(""), "--token", strings.TrimSpace(string(tok))))

	ctx := harness.Within(t, 5*time.Minute)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: "default"}, Data: map[string]string{"by": "first"}}
	if _, err := first.client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a ConfigMap through the first server: %v", err)
	}
	got, err := second.client.CoreV1().ConfigMaps("default").Get(ctx, "shared", metav1.GetOptions{})
	if err != nil || got.Data["by"] != "first" {
		t.Fatalf("the second server does not see the first's write: %v %v", got.Data, err)
	}

	holder := func(s *server, name string) (string, error) {
		l, err := s.client.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if l.Spec.HolderIdentity == nil {
			return "", nil
		}
		return *l.Spec.HolderIdentity, nil
	}
	var leader string
	if ok, err := poll(ctx, time.Second, func() (bool, error) {
		h, err := holder(second, "kube-controller-manager")
		leader = h
		return h != "", err
	}); !ok {
		t.Fatalf("no kube-controller-manager Lease holder: %v", err)
	}
	t.Logf("kube-controller-manager leader: %s", leader)
	// Both controller-managers run leader election; one holds the Lease
	// and the other waits instead of running its controllers beside it.
	const attempting = `"Attempting to acquire leader lease..." lock="kube-system/kube-controller-manager"`
	const acquiredLine = `"Successfully acquired lease" lock="kube-system/kube-controller-manager"`
	for i, s := range []*server{first, second} {
		if !strings.Contains(s.StartLog(), attempting) {
			t.Errorf("server %d's controller-manager does not run leader election (no %s in its log)", i+1, attempting)
		}
	}
	acquired := func(s *server) bool { return strings.Contains(s.StartLog(), acquiredLine) }
	if acquired(first) == acquired(second) {
		t.Errorf("the first server's controller-manager acquired the Lease: %v, the second's: %v; want exactly one",
			acquired(first), acquired(second))
	}
	firstLed := acquired(first)

	first.Stop()
	cm2 := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after", Namespace: "default"}}
	if _, err := second.client.CoreV1().ConfigMaps("default").Create(ctx, cm2, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the second server does not take writes once the first stopped: %v", err)
	}
	if firstLed {
		if ok, err := poll(ctx, time.Second, func() (bool, error) {
			h, err := holder(second, "kube-controller-manager")
			return h != "" && h != leader && acquired(second), err
		}); !ok {
			t.Errorf("the second server's controller-manager did not take the Lease over: %v", err)
		}
	} else if h, err := holder(second, "kube-controller-manager"); err != nil || h != leader {
		t.Errorf("the Lease moved from the second server's controller-manager (%s) to %q (%v) while it ran", leader, h, err)
	}
	harness.Workload(t, second.cfg.Kubeconfig)
}
