package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/skiff-k8s/skiff/internal/etcd"
	"github.com/skiff-k8s/skiff/internal/fsutil"
	"github.com/skiff-k8s/skiff/internal/join"
	"github.com/skiff-k8s/skiff/internal/token"
)

// serverBootstrap is what a second server needs to serve the same cluster:
// the CAs with their keys and the service-account key. Only the server
// token may fetch it.
type serverBootstrap struct {
	Files map[string][]byte `json:"files"`
}

// bootstrapFiles are the files of <data>/server/tls that every server of a
// cluster shares; the others (serving and client certificates) each server
// issues itself from these.
var bootstrapFiles = []string{
	"server-ca.crt", "server-ca.key", "client-ca.crt", "client-ca.key",
	"request-header-ca.crt", "request-header-ca.key", "service.key",
}

func readServerBootstrap(tlsDir string) func() ([]byte, error) {
	return func() ([]byte, error) {
		b := serverBootstrap{Files: map[string][]byte{}}
		for _, name := range bootstrapFiles {
			data, err := os.ReadFile(filepath.Join(tlsDir, name))
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", name, err)
			}
			b.Files[name] = data
		}
		// The etcd CA, only when this cluster runs embedded etcd: a
		// joining server then becomes a member with certificates of it.
		for _, name := range etcd.CAFiles {
			data, err := os.ReadFile(filepath.Join(tlsDir, name))
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", name, err)
			}
			b.Files[name] = data
		}
		return json.Marshal(b)
	}
}

// joinCluster fetches the cluster's shared keys from the server at
// cfg.ServerURL before this server makes any of its own. It needs the
// server token: an agent token is refused by the server, with the line that
// says so. The servers share the datastore: the same --datastore-endpoint,
// or, when the cluster runs embedded etcd, this server becomes a member
// (the etcd part asks through the joiner returned).
func joinCluster(ctx context.Context, cfg Config, p paths) (*etcdJoiner, error) {
	if cfg.Token == "" {
		return nil, errors.New("--server needs --token: the token of the server to join (<data-dir>/server/token there)")
	}
	tok, err := token.Parse(cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("--token: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := join.Connect(ctx, cfg.ServerURL, tok, join.Identity{})
	if err != nil {
		return nil, err
	}
	raw, err := c.ServerBootstrap(ctx)
	if err != nil {
		return nil, err
	}
	var b serverBootstrap
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("reading the cluster's keys from %s: %w", cfg.ServerURL, err)
	}
	files := bootstrapFiles
	var joiner *etcdJoiner
	switch {
	case cfg.DatastoreEndpoint != "":
	case len(b.Files[etcd.CAFiles[0]]) > 0:
		files = append(slices.Clone(files), etcd.CAFiles...)
		joiner = &etcdJoiner{c: c}
	default:
		return nil, fmt.Errorf("the server at %s keeps its state in its own SQLite file, which other servers cannot share: give the same --datastore-endpoint as the servers there use, or start the first server with --cluster-init (embedded etcd) to add servers", cfg.ServerURL)
	}
	// Every check before any write: a refused join leaves nothing.
	for _, name := range files {
		data := b.Files[name]
		if len(data) == 0 {
			return nil, fmt.Errorf("the server at %s sent no %s", cfg.ServerURL, name)
		}
		path := filepath.Join(p.tls, name)
		if old, err := os.ReadFile(path); err == nil && string(old) != string(data) {
			return nil, fmt.Errorf("%s belongs to another cluster than the one at %s; use an empty --data-dir to join it", path, cfg.ServerURL)
		}
	}
	if joiner != nil {
		if err := checkEtcdPorts(); err != nil {
			return nil, err
		}
	}
	for _, name := range files {
		path := filepath.Join(p.tls, name)
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
		}
		if err := fsutil.WriteFile(path, b.Files[name], 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return joiner, nil
}
