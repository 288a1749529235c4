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

	"k8s.io/klog/v2"

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

// maxServerClockSkew is how far a joining server's clock may be from the
// clock of the server it joins. Servers share more than their data: a
// service-account token one apiserver issues is checked by the others
// against their own clocks, with go-jose's default leeway of one minute
// for "not before", "issued at" and "expires", so past a minute a pod's
// token is good on some servers and refused on others. Certificates are
// backdated an hour and would bear more; etcd's Raft reads no wall clock
// and only warns from 1 s of drift. Half the token leeway leaves room for
// the clocks to drift further after the join, and is far above what the
// measurement can get wrong (the Date header's whole seconds and the
// request's latency are never counted as skew).
const maxServerClockSkew = 30 * time.Second

// pendingJoin is a server join that has passed every check: the cluster's
// keys, fetched but not yet written.
type pendingJoin struct {
	files  map[string][]byte // name in <data>/server/tls → content
	joiner *etcdJoiner
}

// prepareJoin fetches the cluster's shared keys from the server at
// cfg.ServerURL and checks everything a join needs before this server
// writes anything, its data dir included: a refused join leaves nothing
// behind. It needs the server token: an agent token is refused by the
// server, with the line that says so. The servers share the datastore: the
// same --datastore-endpoint, or, when the cluster runs embedded etcd, this
// server becomes a member (the etcd part asks through the joiner).
func prepareJoin(ctx context.Context, cfg Config, p paths) (*pendingJoin, error) {
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
	if err := checkClock(c, cfg.ServerURL); err != nil {
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
	j := &pendingJoin{files: map[string][]byte{}}
	switch {
	case cfg.DatastoreEndpoint != "":
	case len(b.Files[etcd.CAFiles[0]]) > 0:
		files = append(slices.Clone(files), etcd.CAFiles...)
		j.joiner = &etcdJoiner{c: c}
	default:
		return nil, fmt.Errorf("the server at %s keeps its state in its own SQLite file, which other servers cannot share: give the same --datastore-endpoint as the servers there use, or start the first server with --cluster-init (embedded etcd) to add servers", cfg.ServerURL)
	}
	for _, name := range files {
		data := b.Files[name]
		if len(data) == 0 {
			return nil, fmt.Errorf("the server at %s sent no %s", cfg.ServerURL, name)
		}
		path := filepath.Join(p.tls, name)
		if old, err := os.ReadFile(path); err == nil && string(old) != string(data) {
			return nil, fmt.Errorf("%s belongs to another cluster than the one at %s; use an empty --data-dir to join it", path, cfg.ServerURL)
		}
		j.files[name] = data
	}
	if j.joiner != nil {
		if err := checkEtcdPorts(); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// checkClock refuses to join a server whose clock is too far from this
// host's (see maxServerClockSkew), and warns from etcd's 1 s on.
func checkClock(c *join.Client, serverURL string) error {
	offset, ok := c.ClockOffset()
	if !ok {
		klog.InfoS("WARNING: the server sent no Date header, so this host's clock cannot be compared with its clock; make sure both keep time (NTP)", "server", serverURL)
		return nil
	}
	skew, dir := offset, "behind"
	if skew < 0 {
		skew, dir = -skew, "ahead of"
	}
	if skew > maxServerClockSkew {
		return fmt.Errorf("this host's clock is %s %s the clock of the server at %s, more than the %s servers may differ by (tokens one server issues would be refused by another); set both clocks right (NTP, e.g. timedatectl set-ntp true) and start again",
			skew.Round(time.Second), dir, serverURL, maxServerClockSkew)
	}
	if skew > time.Second {
		klog.InfoS("WARNING: this host's clock differs from the server's; etcd will warn about clock drift: keep the servers' clocks in sync (NTP)", "server", serverURL, "by", skew.Round(time.Second).String(), "thisHostIs", dir)
	}
	return nil
}

// write puts the cluster's keys in place, keeping the ones that are there
// already (prepareJoin checked they are the same).
func (j *pendingJoin) write(p paths) error {
	for name, data := range j.files {
		path := filepath.Join(p.tls, name)
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
		}
		if err := fsutil.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}
