package datastore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/k3s-io/kine/pkg/drivers/generic"
	"github.com/k3s-io/kine/pkg/endpoint"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// sqliteParams keep SQLite in WAL mode with a busy timeout long enough for
// the apiserver's bursts; synchronous=NORMAL in WAL mode never loses a
// committed transaction when the process dies, only possibly on power loss,
// and never corrupts the file. kine's own checkpoint after each compaction
// is off: it waits for every reader with that 30 s timeout while holding
// the writers back, where keepWALSmall waits at most walBusyTimeout, and
// only when the log has grown.
const sqliteParams = "_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate&_stmt_cache_size=20&cache=shared&_kine_disable_compact_wal_checkpoint=true"

// Datastore is kine in front of the configured database.
type Datastore struct {
	// Endpoint is --datastore-endpoint; empty means SQLite at DBPath.
	Endpoint string
	// DBPath is the SQLite file used when Endpoint is empty.
	DBPath string
	// Socket is where kine listens for the apiserver.
	Socket string
	// Timeout bounds how long to wait for the database to answer.
	Timeout time.Duration
	// TLS is --datastore-cafile, --datastore-certfile and
	// --datastore-keyfile: kine uses them to reach its database, and the
	// apiserver to reach a passed-through etcd (see EtcdTLS).
	TLS TLSFiles

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ component.Component = (*Datastore)(nil)

func (d *Datastore) Name() string { return "datastore" }

// EtcdServers is what the apiserver's --etcd-servers must say: kine's
// socket, or the etcd endpoints themselves when they are passed through.
// It is known before Start, so the apiserver's flags can be built up front.
func (d *Datastore) EtcdServers() string {
	if d.passthrough() {
		return d.Endpoint
	}
	return "unix://" + d.Socket
}

// EtcdTLS is the TLS the apiserver's etcd client needs, known before
// Start like EtcdServers: the datastore's files for a passed-through etcd,
// none for kine's local socket.
func (d *Datastore) EtcdTLS() TLSFiles {
	if d.passthrough() {
		return d.TLS
	}
	return TLSFiles{}
}

// LeaderElect tells whether the components need leader election: SQLite is
// one server's file, so there is nobody to elect.
func (d *Datastore) LeaderElect() bool {
	return d.Endpoint != "" && !strings.HasPrefix(d.Endpoint, "sqlite://")
}

func (d *Datastore) passthrough() bool {
	for _, scheme := range []string{"http://", "https://", "unix://", "unixs://"} {
		if strings.HasPrefix(d.Endpoint, scheme) {
			return true
		}
	}
	return false
}

// Start opens the database and serves the etcd API on the socket. A database
// that does not answer within Timeout fails start-up, naming the endpoint.
func (d *Datastore) Start(ctx context.Context) error {
	routeKineLogs()
	serveSharedRevisions()
	ep := d.Endpoint
	if ep == "" {
		if err := os.MkdirAll(filepath.Dir(d.DBPath), 0o700); err != nil {
			return fmt.Errorf("creating the database folder: %w", err)
		}
		ep = "sqlite://" + d.DBPath + "?" + sqliteParams
	}
	if err := os.MkdirAll(filepath.Dir(d.Socket), 0o700); err != nil {
		return fmt.Errorf("creating the socket folder: %w", err)
	}

	kctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	cfg := defaults()
	cfg.Endpoint = ep
	cfg.BackendTLSConfig = d.TLS.kine()
	cfg.Listener = "unix://" + d.Socket
	cfg.WaitGroup = &d.wg
	cfg.GRPCServer = newGRPCServer()

	done := make(chan error, 1)
	go func() {
		_, err := endpoint.Listen(kctx, cfg)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			cancel()
			return fmt.Errorf("opening %s: %w", Redact(d.describe()), err)
		}
		if d.Endpoint == "" {
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				if err := keepWALSmall(kctx, d.DBPath); err != nil {
					klog.Errorf("SQLite's log will not be kept small: %v", err)
				}
			}()
		}
		return nil
	case <-time.After(d.Timeout):
		cancel()
		return fmt.Errorf("cannot reach %s after %s; check that it is running and the endpoint is right",
			Redact(d.describe()), d.Timeout)
	}
}

// Ready checks that the etcd API answers, which also proves a passed-through
// etcd is reachable.
func (d *Datastore) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	tlsCfg, err := d.EtcdTLS().kine().ClientConfig()
	if err != nil {
		return fmt.Errorf("loading the datastore's TLS files: %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(d.EtcdServers(), ","),
		DialTimeout: d.Timeout,
		Context:     ctx,
		TLS:         tlsCfg,
	})
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", Redact(d.describe()), err)
	}
	defer cli.Close()
	for {
		_, err := cli.Get(ctx, "/registry/health")
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cannot reach %s after %s: %w", Redact(d.describe()), d.Timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop closes kine's server and the database, so that SQLite is left with a
// clean WAL.
func (d *Datastore) Stop(ctx context.Context) error {
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("database did not close in time")
	}
}

func (d *Datastore) describe() string {
	if d.Endpoint == "" {
		return "SQLite database " + d.DBPath
	}
	return "datastore " + d.Endpoint
}

// Redact hides the password in a datastore endpoint so it can be shown.
func Redact(endpoint string) string {
	scheme, rest, ok := strings.Cut(endpoint, "://")
	if !ok {
		return endpoint
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return endpoint
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return endpoint
	}
	return scheme + "://" + user + ":***" + rest[at:]
}

// compactInterval is how often kine deletes the history of keys (the
// rows each update and delete leaves), never the last 1,000 revisions.
// Each pass compacts up to the revision of the pass before, so the store
// holds one to two intervals of history: under churn its size follows the
// write rate times the interval. With kine's 5 minutes, 100,000 updates of
// 100 ConfigMaps (at ~250/s) grew SQLite 8.8× (29 → 256 MiB), all of it
// history no client asks for: the apiserver serves watches from its cache
// and itself asks for compaction only every 5 minutes; every 30 seconds,
// 3.9× (scripts/bench/store). Every 10 seconds, 40,000 such updates at
// 400/s straight through kine left the database file 1.7× its size after
// the first 1,000 (15.5 → 25.7 MiB; 3.8× at 30 s); through the apiserver,
// with the log kept small too (keepWALSmall), SQLite measured 31.9 MiB
// after 1,000 updates, 20.1 MiB after 100,000, never over 34.5 MiB
// (scripts/bench/store, 2026-12-06). Not shorter, because
// a row must outlive the interval for kine's own poller, which turns
// the store's rows into watch events, to read it before it is deleted, and
// a slow client's paginated list or resumed watch needs the revisions
// it started from. An idle cluster's 1,000 revisions span minutes.
const compactInterval = 10 * time.Second

// defaults are kine's own command-line defaults but compactInterval: its
// zero values are not valid (a compact batch below 100 is refused, for
// one), and a pool of 2 idle connections (database/sql's default, where
// kine's is 20) closes and reopens connections, each with its pragmas
// and statement cache, whenever more than 2 requests overlap.
func defaults() endpoint.Config {
	return endpoint.Config{
		NotifyInterval:      5 * time.Second,
		EmulatedETCDVersion: "3.6.11",
		CompactInterval:     compactInterval,
		CompactTimeout:      5 * time.Second,
		CompactMinRetain:    1000,
		CompactBatchSize:    1000,
		PollBatchSize:       500,
		PollInterval:        time.Second,
		ConnectionPoolConfig: generic.ConnectionPoolConfig{
			MaxIdle:     20,
			MaxIdleTime: 2 * time.Minute,
		},
	}
}
