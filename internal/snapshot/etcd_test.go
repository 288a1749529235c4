package snapshot

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcd runs a real one-member etcd in-process on dir (plain http on
// loopback) and returns a client of it.
func startEtcd(t *testing.T, dir, name, clientURL, peerURL string) (*embed.Etcd, *clientv3.Client) {
	t.Helper()
	cu, _ := url.Parse(clientURL)
	pu, _ := url.Parse(peerURL)
	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = name + "=" + peerURL
	cfg.InitialClusterToken = etcdClusterToken
	cfg.ListenMetricsUrls = nil
	cfg.LogLevel = "error"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("starting etcd on %s: %v", dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		t.Fatal("etcd not ready within 30s")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	return e, cli
}

// TestEtcdSaveAndRestore: keys put before a save are what a member started
// on the restored data dir holds, keys changed afterwards are not; the old
// data dir is kept aside; a file that is not a snapshot is refused and
// changes nothing.
func TestEtcdSaveAndRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real etcd in-process")
	}
	root := t.TempDir()
	dataDir := filepath.Join(root, "etcd")
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	e, cli := startEtcd(t, dataDir, "n1", clientURL, peerURL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 100 {
		if _, err := cli.Put(ctx, fmt.Sprintf("/registry/k%03d", i), "before"); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(root, "snap")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SaveEtcd(ctx, EtcdClient{Endpoint: clientURL}, file); err != nil {
		t.Fatalf("SaveEtcd: %v", err)
	}
	if err := VerifyEtcd(file); err != nil {
		t.Fatalf("the snapshot does not verify: %v", err)
	}
	if _, err := cli.Put(ctx, "/registry/k000", "after"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, "/registry/k001"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/registry/new", "after"); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	e.Close()

	// Not a snapshot: refused, the data dir untouched.
	bad := filepath.Join(root, "bad")
	os.WriteFile(bad, []byte("SQLite format 3\x00 but not really"), 0o600)
	if err := RestoreEtcd(bad, dataDir, "n1", peerURL); err == nil {
		t.Fatal("RestoreEtcd of a non-snapshot succeeded")
	}
	if entries, _ := filepath.Glob(dataDir + ".*"); len(entries) != 0 {
		t.Errorf("a refused restore left %q", entries)
	}

	if err := RestoreEtcd(file, dataDir, "n1", peerURL); err != nil {
		t.Fatalf("RestoreEtcd: %v", err)
	}
	kept, _ := filepath.Glob(dataDir + ".pre-restore-*")
	if len(kept) != 1 {
		t.Fatalf("old data dir kept as %q, want one .pre-restore- folder", kept)
	}
	if _, err := os.Stat(filepath.Join(kept[0], "member", "wal")); err != nil {
		t.Errorf("the kept data dir lacks its WAL: %v", err)
	}

	e, cli = startEtcd(t, dataDir, "n1", clientURL, peerURL)
	defer e.Close()
	defer cli.Close()
	resp, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range resp.Kvs {
		got[string(kv.Key)] = string(kv.Value)
	}
	if len(got) != 100 || got["/registry/k000"] != "before" || got["/registry/k001"] != "before" {
		t.Errorf("restored member holds %d keys, k000=%q k001=%q; want the snapshot's 100, both \"before\"", len(got), got["/registry/k000"], got["/registry/k001"])
	}
	if _, ok := got["/registry/new"]; ok {
		t.Error("restored member holds a key put after the snapshot")
	}
	// One member, and the revision went forward, not back.
	members, err := cli.MemberList(ctx)
	if err != nil || len(members.Members) != 1 || members.Members[0].Name != "n1" {
		t.Errorf("members after restore: %v %v; want n1 alone", members, err)
	}
	if resp.Header.Revision < etcdRevisionBump {
		t.Errorf("revision after restore %d; want it bumped past %d", resp.Header.Revision, etcdRevisionBump)
	}
}
