package datastore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-k8s/skiff/internal/e2e/dbharness"
	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// TestIntegrationSharedDatabaseWatchProgress: two kines over one
// PostgreSQL or MariaDB, as two servers sharing a datastore run them. After both
// have written, interleaved, a watch on the second must be told of
// progress up to the database's latest revision, though the last
// writes came from the first. The apiserver's watch cache waits for
// that progress before it answers its informers; without it a joining
// server's informers never sync and it never becomes ready (seen as
// TestE2ETwoServersSharePostgres failing about one run in five).
func TestIntegrationSharedDatabaseWatchProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: starts PostgreSQL and MariaDB")
	}
	eachSQLStore(t, func(t *testing.T, db *dbharness.Server) {
		checkSharedProgress(t, db.Endpoint)
	})
}

func checkSharedProgress(t *testing.T, endpoint string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first, second := startKine(ctx, t, endpoint), startKine(ctx, t, endpoint)

	watchCtx, stopWatch := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer stopWatch()
	// Like the apiserver's watch cache: one prefix, with progress notify.
	events := second.Watch(watchCtx, "/registry/pods/", clientv3.WithPrefix(), clientv3.WithProgressNotify())
	select {
	case <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch on the second kine was not created")
	}

	// The first writes from many clients at once, as a running server
	// does, while the second writes now and then: the first's writes
	// land between the second's own and its poller's next read, and kine
	// takes its current revision from its own last write.
	var wg sync.WaitGroup
	writing, stopWriting := context.WithCancel(ctx)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; writing.Err() == nil; n++ {
				if _, err := first.Put(ctx, fmt.Sprintf("/registry/leases/first-%d/%d", i, n), "x"); err != nil {
					t.Errorf("writing through the first kine: %v", err)
					return
				}
			}
		}()
	}
	for n := range 30 {
		if _, err := second.Put(ctx, fmt.Sprintf("/registry/leases/second/%d", n), "x"); err != nil {
			t.Fatalf("writing through the second kine: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	stopWriting()
	wg.Wait()
	// Then only the first writes, as a cluster that is up does while
	// another server joins it.
	for n := range 20 {
		if _, err := first.Put(ctx, fmt.Sprintf("/registry/leases/first/%d", n), "x"); err != nil {
			t.Fatalf("writing through the first kine: %v", err)
		}
	}
	latest, err := first.Get(ctx, "/registry/health")
	if err != nil {
		t.Fatalf("reading the latest revision: %v", err)
	}
	want := latest.Header.Revision

	var got int64
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for got < want {
		select {
		case <-tick.C:
			// As the apiserver asks while it waits for a fresh cache.
			if err := second.RequestProgress(watchCtx); err != nil {
				t.Fatalf("requesting progress: %v", err)
			}
		case resp, ok := <-events:
			if !ok {
				t.Fatal("the watch on the second kine closed")
			}
			if err := resp.Err(); err != nil {
				t.Fatalf("watch: %v", err)
			}
			got = max(got, resp.Header.Revision)
		case <-deadline:
			t.Fatalf("the second kine reports progress up to revision %d, the database is at %d", got, want)
		}
	}
}

// startKine serves kine over the database at endpoint and returns a
// client of it.
func startKine(ctx context.Context, t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	// Short, so the unix socket path fits.
	dir := harness.ScratchDir(t, "skf-kine-")
	d := &Datastore{Endpoint: endpoint, Socket: filepath.Join(dir, "kine.sock"), Timeout: 30 * time.Second}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("starting kine: %v", err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Stop(stopCtx); err != nil {
			t.Errorf("stopping kine: %v", err)
		}
	})
	if err := d.Ready(ctx); err != nil {
		t.Fatalf("kine is not ready: %v", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{d.EtcdServers()}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("connecting to kine: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
