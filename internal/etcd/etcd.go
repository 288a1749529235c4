package etcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/datastore"
)

// Etcd is this server's etcd member, the store of the cluster in place of
// kine: the apiserver talks to it directly.
type Etcd struct {
	// DataDir is the member's data (<data-dir>/server/db/etcd).
	DataDir string
	// TLSDir holds the etcd CA and this member's certificates
	// (<data-dir>/server/tls/etcd).
	TLSDir string
	// MemberName is the server's node name: a deleted Node's name is how
	// its member is found and removed.
	MemberName string
	// NodeIP is where the other members reach this one (port 2380).
	NodeIP net.IP
	// Join, when not nil and DataDir holds no member yet, makes this a new
	// member of an existing cluster through another server; nil starts a
	// cluster of its own (--cluster-init). A member with data restarts as
	// itself either way, asking nobody.
	Join Joiner
	// JoinURL is the server joined through, recorded in the data dir so
	// that --cluster-init on it later is refused.
	JoinURL string
	// MigrateFrom is kine's SQLite file whose state a new cluster starts
	// with (--cluster-init on a SQLite data dir), copied once; "" for none.
	MigrateFrom string
	// ForceNewCluster starts the member's data as a one-member cluster
	// (--cluster-reset).
	ForceNewCluster bool

	testPorts ports

	e      *embed.Etcd
	failed chan error
	// joinedID is the member added for this start, until it is promoted:
	// Stop removes it again, so a failed join leaves no member behind.
	joinedID uint64

	mu     sync.Mutex
	cli    *clientv3.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Joiner is another server of the cluster, asked through its supervisor.
type Joiner interface {
	// AddLearner adds a learner member named name at peerURL.
	AddLearner(ctx context.Context, name, peerURL string) (Membership, error)
	// Promote makes the learner id a voting member; etcd refuses until it
	// has caught up with the leader.
	Promote(ctx context.Context, id uint64) error
	// Remove removes member id.
	Remove(ctx context.Context, id uint64) error
}

// Membership is a server's answer to AddLearner.
type Membership struct {
	// ID is the new member's.
	ID uint64 `json:"id"`
	// InitialCluster names every member with its peer URLs, the new one
	// included, as etcd's --initial-cluster.
	InitialCluster string `json:"initialCluster"`
}

var (
	_ component.Component = (*Etcd)(nil)
	_ component.Failer    = (*Etcd)(nil)
)

func (e *Etcd) Name() string { return "etcd" }

// EtcdServers is the apiserver's --etcd-servers: this member, on loopback.
func (e *Etcd) EtcdServers() string { return e.clientURL() }

// EtcdTLS is what the apiserver presents to etcd and trusts from it.
func (e *Etcd) EtcdTLS() datastore.TLSFiles { return e.files().Client() }

// LeaderElect is true: several servers run the scheduler and
// controller-manager.
func (e *Etcd) LeaderElect() bool { return true }

func (e *Etcd) files() Files { return FilesIn(e.TLSDir) }

// HasData tells whether dataDir holds a member already.
func HasData(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "member", "wal"))
	return err == nil
}

// JoinedFile, in the data dir, records the server a member joined
// through (--cluster-reset removes it: the member is a first one then).
const JoinedFile = "skiff-joined-from"

// JoinedFrom is the server dataDir's member joined through, "" when it
// started its own cluster (or holds none).
func JoinedFrom(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, JoinedFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Start makes the certificates, joins the cluster when this is a new
// member of one, and starts the member.
func (e *Etcd) Start(ctx context.Context) error {
	if err := e.files().ensure(e.MemberName, e.NodeIP); err != nil {
		return err
	}
	e.failed = make(chan error, 1)
	peer := e.peerURL()
	initial, state := e.MemberName+"="+peer, embed.ClusterStateFlagNew
	switch {
	case HasData(e.DataDir):
		klog.InfoS("Starting the etcd member from its data", "name", e.MemberName, "dir", e.DataDir)
	case e.Join != nil:
		m, err := e.Join.AddLearner(ctx, e.MemberName, peer)
		if err != nil {
			return err
		}
		e.joinedID = m.ID
		initial, state = m.InitialCluster, embed.ClusterStateFlagExisting
		klog.InfoS("Added as an etcd learner; catching up", "name", e.MemberName, "id", fmt.Sprintf("%x", m.ID), "cluster", initial)
	default:
		klog.InfoS("Starting a new one-member etcd cluster", "name", e.MemberName, "peer", peer)
	}
	if err := os.MkdirAll(e.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", e.DataDir, err)
	}
	if e.MigrateFrom != "" && !HasData(e.DataDir) {
		// Before the member has data: a start cut short copies again.
		if err := os.WriteFile(filepath.Join(e.DataDir, migratingFile), []byte(e.MigrateFrom+"\n"), 0o600); err != nil {
			return fmt.Errorf("marking the move from SQLite: %w", err)
		}
	}
	cfg, err := e.embedConfig(initial, state)
	if err != nil {
		return err
	}
	e.e, err = embed.StartEtcd(cfg)
	if err != nil {
		err = fmt.Errorf("starting etcd: %w", err)
		if e.joinedID != 0 {
			// Not started, so never stopped: undo the join here.
			e.e = nil
			if rerr := e.undoJoin(context.WithoutCancel(ctx)); rerr != nil {
				err = fmt.Errorf("%w; %w", err, rerr)
			}
		}
		return err
	}
	go func() {
		select {
		case err := <-e.e.Err():
			e.failed <- fmt.Errorf("etcd stopped: %w", err)
		case <-e.e.Server.StopNotify():
			// A member removed from the cluster stops by itself.
			e.failed <- errors.New("etcd stopped: this member was removed from the cluster or lost its data; see the lines before")
		}
	}()
	return nil
}

// Failed reports etcd stopping by itself.
func (e *Etcd) Failed() <-chan error { return e.failed }

// Ready waits until this member is a voter that serves reads and writes:
// a joined learner is promoted first, as soon as etcd accepts.
func (e *Etcd) Ready(ctx context.Context) error {
	if e.joinedID != 0 {
		if err := e.promote(ctx); err != nil {
			return err
		}
	}
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for waiting := false; !waiting; {
		select {
		case <-e.e.Server.ReadyNotify():
			waiting = true
		case <-tick.C:
			klog.InfoS("Waiting for the etcd cluster to elect a leader: the other servers must be running for this one to start", "name", e.MemberName)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cli, err := e.client()
	if err != nil {
		return err
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := cli.Get(rctx, "/registry/health")
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("etcd does not answer: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := e.migrate(ctx); err != nil {
		return err
	}
	if e.joinedID != 0 {
		if err := os.WriteFile(filepath.Join(e.DataDir, JoinedFile), []byte(e.JoinURL+"\n"), 0o600); err != nil {
			return fmt.Errorf("recording the join: %w", err)
		}
		e.joinedID = 0 // a member now, kept whatever happens next
	}
	bg, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.wg.Add(1)
	go func() { defer e.wg.Done(); e.defragLoop(bg) }()
	return nil
}

// promoteTimeout bounds how long a learner may take to catch up: a
// cluster's whole store, a few hundred MiB at most, on a slow link.
const promoteTimeout = 5 * time.Minute

func (e *Etcd) promote(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, promoteTimeout)
	defer cancel()
	for {
		err := e.Join.Promote(ctx, e.joinedID)
		if err == nil {
			klog.InfoS("Promoted to a voting etcd member", "name", e.MemberName)
			return nil
		}
		klog.V(1).InfoS("Not promoted yet", "reason", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("this learner did not catch up with the etcd leader within %s (last answer: %v); check that port %d is open between the servers", promoteTimeout, err, PeerPort)
		case <-time.After(time.Second):
		}
	}
}

// client is a client of this member, made once.
func (e *Etcd) client() (*clientv3.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cli != nil {
		return e.cli, nil
	}
	cli, err := NewClient(e.files().Client(), e.clientURL())
	if err != nil {
		return nil, err
	}
	e.cli = cli
	return cli, nil
}

// Stop stops the member; one that joined for this start and never became
// a voter is removed from the cluster again, with its data.
func (e *Etcd) Stop(ctx context.Context) error {
	if e.cancel != nil {
		e.cancel()
		e.wg.Wait()
	}
	e.mu.Lock()
	if e.cli != nil {
		e.cli.Close()
		e.cli = nil
	}
	e.mu.Unlock()
	if e.e != nil {
		done := make(chan struct{})
		go func() { e.e.Close(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return errors.New("etcd did not stop in time")
		}
	}
	if e.joinedID != 0 {
		return e.undoJoin(ctx)
	}
	return nil
}

// undoJoin removes the member added for this start, and its data, so that
// a failed join leaves nothing behind.
func (e *Etcd) undoJoin(ctx context.Context) error {
	if err := e.Join.Remove(ctx, e.joinedID); err != nil {
		return fmt.Errorf("removing the etcd member added for this failed join (id %x): %w; remove it on a running server", e.joinedID, err)
	}
	klog.InfoS("Removed the etcd member added for this failed join", "id", fmt.Sprintf("%x", e.joinedID))
	e.joinedID = 0
	if err := os.RemoveAll(e.DataDir); err != nil {
		return fmt.Errorf("removing %s: %w", e.DataDir, err)
	}
	return nil
}
