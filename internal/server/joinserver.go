package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
		return json.Marshal(b)
	}
}

// joinCluster fetches the cluster's shared keys from the server at
// cfg.ServerURL before this server makes any of its own. It needs the
// server token: an agent token is refused by the server, with the line that
// says so. The servers must share the datastore, since skiff has no
// embedded etcd to replicate one.
func joinCluster(ctx context.Context, cfg Config, p paths) error {
	if cfg.Token == "" {
		return errors.New("--server needs --token: the token of the server to join (<data-dir>/server/token there)")
	}
	tok, err := token.Parse(cfg.Token)
	if err != nil {
		return fmt.Errorf("--token: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := join.Connect(ctx, cfg.ServerURL, tok, join.Identity{})
	if err != nil {
		return err
	}
	raw, err := c.ServerBootstrap(ctx)
	if err != nil {
		return err
	}
	if cfg.DatastoreEndpoint == "" {
		return fmt.Errorf("joining the servers at %s needs their shared datastore: give the same --datastore-endpoint as they use (skiff has no embedded etcd to replicate SQLite)", cfg.ServerURL)
	}
	var b serverBootstrap
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("reading the cluster's keys from %s: %w", cfg.ServerURL, err)
	}
	if err := os.MkdirAll(p.tls, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", p.tls, err)
	}
	for _, name := range bootstrapFiles {
		data := b.Files[name]
		if len(data) == 0 {
			return fmt.Errorf("the server at %s sent no %s", cfg.ServerURL, name)
		}
		path := filepath.Join(p.tls, name)
		if old, err := os.ReadFile(path); err == nil {
			if string(old) != string(data) {
				return fmt.Errorf("%s belongs to another cluster than the one at %s; use an empty --data-dir to join it", path, cfg.ServerURL)
			}
			continue
		}
		if err := fsutil.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}
