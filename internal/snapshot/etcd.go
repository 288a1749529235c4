package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// The embedded etcd's conventions (internal/etcd): its client listens on
// loopback, and skiff's tools present the etcd client certificate.
const (
	etcdClientURL = "https://127.0.0.1:2379"
	// etcdClusterToken is the member's --initial-cluster-token.
	etcdClusterToken = "skiff"
	// etcdRevisionBump is added to the restored store's revision, and
	// everything before it marked compacted, as etcd's own guide to
	// restoring a Kubernetes store advises: a watcher that remembers a
	// revision from before the restore is told to list again instead of
	// waiting for revisions that already happened.
	etcdRevisionBump = 1_000_000_000
)

// EtcdClient is how skiff's tools reach a running member.
type EtcdClient struct {
	Endpoint                  string
	CAFile, CertFile, KeyFile string // all empty: plain http (tests)
}

func (s Store) etcdClientFiles() EtcdClient {
	tls := filepath.Join(s.DataDir, "server", "tls", "etcd")
	return EtcdClient{
		Endpoint: etcdClientURL,
		CAFile:   filepath.Join(tls, "server-ca.crt"),
		CertFile: filepath.Join(tls, "client.crt"),
		KeyFile:  filepath.Join(tls, "client.key"),
	}
}

func (c EtcdClient) config() (clientv3.Config, error) {
	cfg := clientv3.Config{Endpoints: []string{c.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if c.CAFile == "" {
		return cfg, nil
	}
	tls, err := transport.TLSInfo{CertFile: c.CertFile, KeyFile: c.KeyFile, TrustedCAFile: c.CAFile}.ClientConfig()
	if err != nil {
		return cfg, fmt.Errorf("loading the etcd client certificate: %w", err)
	}
	cfg.TLS = tls
	return cfg, nil
}

// SaveEtcd streams a snapshot of the member at c into dest: etcd's own
// consistent copy of its database, with its checksum at the end.
func SaveEtcd(ctx context.Context, c EtcdClient, dest string) error {
	return saveEtcd(ctx, c, dest)
}

func saveEtcd(ctx context.Context, c EtcdClient, dest string) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return fmt.Errorf("connecting to etcd at %s: %w", c.Endpoint, err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	// A status first: a stopped member fails here with a clear cause
	// instead of in the middle of the stream.
	// Bounded on its own: the client retries a refused dial until its
	// context ends, and a stopped server should be said at once, not
	// after the stream's five minutes.
	statusCtx, statusCancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = cli.Status(statusCtx, c.Endpoint)
	statusCancel()
	if err != nil {
		return fmt.Errorf("etcd at %s does not answer (%v); is the server running?", c.Endpoint, err)
	}
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("asking etcd for a snapshot: %w", err)
	}
	defer rc.Close()
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, rc); err != nil {
		return fmt.Errorf("receiving the etcd snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dest, err)
	}
	return f.Close()
}

// VerifyEtcd checks that file is a whole etcd snapshot: a bbolt database
// that passes bbolt's consistency check and reads as etcd's key space.
func VerifyEtcd(file string) error {
	if kind, err := fileKind(file); err != nil {
		return err
	} else if kind != kindEtcd {
		return fmt.Errorf("%s is not an etcd snapshot (%s)", file, kind)
	}
	if _, err := etcdutl.NewV3(zap.NewNop()).Status(file); err != nil {
		return fmt.Errorf("%s is not a readable etcd snapshot: %w", file, err)
	}
	return nil
}

// RestoreEtcd makes etcdDataDir a one-member cluster (memberName at
// peerURL) holding the snapshot in file. It restores into a fresh folder
// beside etcdDataDir and only then swaps: the old data is moved aside to
// <etcdDataDir>.pre-restore-<unix>, never deleted, and a failed restore
// leaves etcdDataDir as it was; where the old data went is logged. The
// member must not be running.
func RestoreEtcd(file, etcdDataDir, memberName, peerURL string) error {
	aside, err := restoreEtcd(file, etcdDataDir, memberName, peerURL)
	if err != nil {
		return err
	}
	klog.InfoS("etcd data restored from a snapshot", "snapshot", file, "dataDir", etcdDataDir, "previousDataMovedTo", aside)
	return nil
}

func restoreEtcd(file, etcdDataDir, memberName, peerURL string) (aside string, err error) {
	if err := VerifyEtcd(file); err != nil {
		return "", err
	}
	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	fresh := etcdDataDir + ".restore-" + stamp
	if err := os.RemoveAll(fresh); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(etcdDataDir), 0o700); err != nil {
		return "", err
	}
	err = etcdutl.NewV3(zap.NewNop()).Restore(etcdutl.RestoreConfig{
		SnapshotPath:        file,
		Name:                memberName,
		OutputDataDir:       fresh,
		PeerURLs:            []string{peerURL},
		InitialCluster:      memberName + "=" + peerURL,
		InitialClusterToken: etcdClusterToken,
		RevisionBump:        etcdRevisionBump,
		MarkCompacted:       true,
	})
	if err != nil {
		os.RemoveAll(fresh)
		return "", fmt.Errorf("restoring %s: %w", file, err)
	}
	if err := os.Chmod(fresh, 0o700); err != nil {
		os.RemoveAll(fresh)
		return "", err
	}
	if _, err := os.Stat(etcdDataDir); err == nil {
		aside = etcdDataDir + ".pre-restore-" + stamp
		if err := os.Rename(etcdDataDir, aside); err != nil {
			os.RemoveAll(fresh)
			return "", fmt.Errorf("moving the current etcd data aside: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		os.RemoveAll(fresh)
		return "", err
	}
	if err := os.Rename(fresh, etcdDataDir); err != nil {
		return aside, fmt.Errorf("putting the restored etcd data in place (the old data is in %s): %w", aside, err)
	}
	fsutil.SyncDir(filepath.Dir(etcdDataDir))
	return aside, nil
}
