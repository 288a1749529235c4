package datastore

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// TestKineKeepsEtcdLimits starts kine over a real SQLite file on skiff's
// own gRPC server and checks that it serves the etcd API with etcd's
// request limit: the apiserver relies on it to refuse objects etcd would
// refuse, so a cluster moved between the two behaves the same.
func TestKineKeepsEtcdLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kine over SQLite")
	}
	// Short, so kine's unix socket path fits.
	dir := harness.ScratchDir(t, "skiff-kine-")
	d := &Datastore{DBPath: filepath.Join(dir, "db", "state.db"), Socket: filepath.Join(dir, "k.sock"), Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer func() {
		if err := d.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()
	if err := d.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}

	// The client would refuse to send over 2 MiB itself; let the server
	// decide.
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{d.EtcdServers()}, DialTimeout: 10 * time.Second, MaxCallSendMsgSize: 8 << 20,
	})
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer cli.Close()

	// Just under etcd's 1.5 MiB request limit: stored and read back whole.
	big := bytes.Repeat([]byte("x"), 1400*1024)
	if _, err := cli.Put(ctx, "/registry/configmaps/default/big", string(big)); err != nil {
		t.Fatalf("putting a 1.4 MiB value: %v", err)
	}
	got, err := cli.Get(ctx, "/registry/configmaps/default/big")
	if err != nil {
		t.Fatalf("reading it back: %v", err)
	}
	if len(got.Kvs) != 1 || !bytes.Equal(got.Kvs[0].Value, big) {
		t.Fatalf("read back %d keys, not the value written", len(got.Kvs))
	}

	// Well over it (gRPC's own default would let 3 MiB through).
	_, err = cli.Put(ctx, "/registry/configmaps/default/huge", strings.Repeat("x", 3<<20))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("putting a 3 MiB value: got %v, want ResourceExhausted", err)
	}
}
