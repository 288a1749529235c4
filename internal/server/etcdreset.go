package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/skiff-k8s/skiff/internal/etcd"
	"github.com/skiff-k8s/skiff/internal/snapshot"
)

// etcdClusterReset is --cluster-reset on an embedded etcd member, as in
// k3s: with --cluster-reset-restore-path the member's data becomes the
// snapshot's, as a one-member cluster; without it the member forgets its
// peers and becomes the one member of its cluster with the data it has.
// Either way it then exits, saying what to do on the other servers.
func etcdClusterReset(ctx context.Context, cfg Config, p paths) error {
	advertise, err := advertiseIP(cfg)
	if err != nil {
		return err
	}
	name, err := nodeName(cfg)
	if err != nil {
		return err
	}
	e := &etcd.Etcd{
		DataDir: etcdDataDir(p), TLSDir: etcdTLSDir(p), MemberName: name,
		NodeIP: peerIP(cfg, advertise), ForceNewCluster: true,
	}
	what := "Reset the etcd membership: this server is now the only member, with the data it had"
	if cfg.ClusterResetRestorePath != "" {
		file, err := snapshot.ResolvePath(cfg.ClusterResetRestorePath, cfg.snapshotDir())
		if err != nil {
			return err
		}
		if err := snapshot.RestoreEtcd(file, e.DataDir, name, e.PeerURL()); err != nil {
			return err
		}
		// The restored data is a new cluster already.
		e.ForceNewCluster = false
		what = "Restored etcd from snapshot " + file + ": this server is now the only member, with the snapshot's data"
	}
	// Start it once, so that the reset is written and checked.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := e.Start(ctx); err != nil {
		return err
	}
	rerr := e.Ready(ctx)
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	if err := e.Stop(stopCtx); err != nil && rerr == nil {
		rerr = err
	}
	if rerr != nil {
		return fmt.Errorf("--cluster-reset: %w", rerr)
	}
	// The first server of a cluster now, whatever it joined before.
	if err := os.Remove(filepath.Join(e.DataDir, etcd.JoinedFile)); err != nil && !os.IsNotExist(err) {
		return err
	}
	fmt.Fprintf(os.Stdout, "%s.\nStart skiff server again without --cluster-reset. On each other server: stop skiff, remove %s there, and start it with --server https://%s:%d --token <this server's token> to join as a new member.\n",
		what, etcdDataDir(p), advertise, cfg.HTTPSPort)
	return nil
}
