package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// TestE2EEmbeddedEtcd: `skiff server --cluster-init` keeps the cluster in
// an embedded etcd member under <data-dir>/server/db/etcd (no SQLite
// file), with its own CA and certificates under tls/etcd; the shared
// workload passes on it; and a restart with the same data dir starts the
// same member with every object, also without --cluster-init. Not
// parallel: embedded etcd has fixed ports (2379, 2380), so only one such
// server runs on the host at a time.
func TestE2EEmbeddedEtcd(t *testing.T) {
	integration(t)
	s := startServer(t, withArgs("--cluster-init"))
	data := s.cfg.DataDir
	if _, err := os.Stat(filepath.Join(data, "server", "db", "etcd", "member", "wal")); err != nil {
		t.Errorf("no etcd member in <data-dir>/server/db/etcd: %v", err)
	}
	mustNotExist(t, filepath.Join(data, "server", "db", "state.db"), "--cluster-init")
	for _, f := range []string{"server-ca.crt", "server-ca.key", "server-client.crt", "peer-server-client.crt", "client.crt", "client.key"} {
		if _, err := os.Stat(filepath.Join(data, "server", "tls", "etcd", f)); err != nil {
			t.Errorf("etcd certificate missing: %v", err)
		}
	}

	harness.Workload(t, s.cfg.Kubeconfig)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept"}, Data: map[string]string{"k": "v"}}
	if _, err := s.client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a ConfigMap: %v", err)
	}
	s.Stop()
	s.Restart()
	if got, err := s.client.CoreV1().ConfigMaps("default").Get(ctx, "kept", metav1.GetOptions{}); err != nil || got.Data["k"] != "v" {
		t.Errorf("the ConfigMap after a restart with --cluster-init: %v %v", got.Data, err)
	}
	s.Stop()

	// The data dir alone says it is an etcd member.
	s.cfg.Args = standardArgs(&s.cfg)
	s.Restart()
	if _, err := s.client.CoreV1().ConfigMaps("default").Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Errorf("the ConfigMap after a restart without --cluster-init: %v", err)
	}
	mustNotExist(t, filepath.Join(data, "server", "db", "state.db"), "a restart of an etcd member without --cluster-init")
	s.Stop()
}

// TestE2EEmbeddedEtcdFromSQLite: --cluster-init on the data dir of a
// SQLite server moves its state into etcd once and says so: the objects
// are there, state.db is kept aside, and a second start copies nothing.
// Not parallel, for etcd's fixed ports.
func TestE2EEmbeddedEtcdFromSQLite(t *testing.T) {
	integration(t)
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "from-sqlite"}, Data: map[string]string{"k": "v"}}
	if _, err := s.client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a ConfigMap: %v", err)
	}
	s.Stop()
	db := filepath.Join(s.cfg.DataDir, "server", "db", "state.db")
	s.cfg.Args = append(s.cfg.Args, "--cluster-init")
	s.Restart()
	if got, err := s.client.CoreV1().ConfigMaps("default").Get(ctx, "from-sqlite", metav1.GetOptions{}); err != nil || got.Data["k"] != "v" {
		t.Errorf("the SQLite server's ConfigMap in etcd: %v %v", got.Data, err)
	}
	mustNotExist(t, db, "the move into etcd")
	if _, err := os.Stat(db + ".migrated-to-etcd"); err != nil {
		t.Errorf("the SQLite file is not kept aside: %v", err)
	}
	harness.Workload(t, s.cfg.Kubeconfig)
	s.Stop()
	if log, err := os.ReadFile(s.LogPath); err != nil || !strings.Contains(string(log), "Moved the cluster's state from SQLite into embedded etcd") {
		t.Errorf("the log does not say the state was moved (%v)", err)
	}
}

// TestE2EEmbeddedEtcdClusterReset: on an embedded etcd member,
// `--cluster-reset` alone makes it the one member of its cluster with its
// data, and with --cluster-reset-restore-path puts a snapshot's state in
// place: each exits 0 saying what to do on the other servers, and the next
// start serves the data it should. Not parallel, for etcd's fixed ports.
func TestE2EEmbeddedEtcdClusterReset(t *testing.T) {
	integration(t)
	s := startServer(t, withArgs("--cluster-init"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	create := func(name string) {
		t.Helper()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := s.client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating ConfigMap %s: %v", name, err)
		}
	}
	exists := func(name string) bool {
		t.Helper()
		_, err := s.client.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{})
		return err == nil
	}
	create("before-snapshot")
	r := runSkiff(t, time.Minute, nil, "etcd-snapshot", "save", "--config", emptyConfig(s.cfg.Root), "--data-dir", s.cfg.DataDir)
	m := regexp.MustCompile(`saved to (\S+) \(`).FindStringSubmatch(r.Stdout)
	if r.Code != 0 || m == nil {
		t.Fatalf("etcd-snapshot save: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	create("after-snapshot")
	s.Stop()

	// Alone: the membership is reset, the data kept.
	r = runSkiff(t, 2*time.Minute, nil, append(slices.Clone(s.cfg.Args), "--cluster-reset")...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "only member") || !strings.Contains(r.Stdout, "without --cluster-reset") {
		t.Fatalf("--cluster-reset: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, tailString(r.Stderr, 20))
	}
	t.Logf("--cluster-reset: %s", strings.TrimSpace(r.Stdout))
	s.Restart()
	if !exists("before-snapshot") || !exists("after-snapshot") {
		t.Errorf("after --cluster-reset the data is not all there")
	}
	s.Stop()

	// From the snapshot: what came after it is gone.
	r = runSkiff(t, 2*time.Minute, nil, append(slices.Clone(s.cfg.Args), "--cluster-reset", "--cluster-reset-restore-path", m[1])...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Restored etcd from snapshot") {
		t.Fatalf("--cluster-reset --cluster-reset-restore-path: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, tailString(r.Stderr, 20))
	}
	s.Restart()
	if !exists("before-snapshot") {
		t.Errorf("after the restore, the ConfigMap made before the snapshot is missing")
	}
	if exists("after-snapshot") {
		t.Errorf("after the restore, the ConfigMap made after the snapshot is still there")
	}
	s.Stop()
}

// TestE2EEmbeddedEtcdRefusals: --cluster-init with an external datastore
// or with --server is refused in one line, with nothing written.
func TestE2EEmbeddedEtcdRefusals(t *testing.T) {
	integration(t)
	t.Parallel()
	t.Run("with_datastore_endpoint", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		r := runSkiff(t, 30*time.Second, nil, append(standardArgs(c), "--cluster-init", "--datastore-endpoint", "postgres://u:p@127.0.0.1:1/db")...)
		expectUsageError(t, r, "--cluster-init", "--datastore-endpoint")
		mustNotExist(t, c.DataDir, "--cluster-init with --datastore-endpoint")
	})
	t.Run("with_server", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		r := runSkiff(t, 30*time.Second, nil, append(standardArgs(c), "--cluster-init", "--server", "https://127.0.0.1:1", "--token", "x")...)
		expectUsageError(t, r, "--cluster-init", "--server")
		mustNotExist(t, c.DataDir, "--cluster-init with --server")
	})
}
