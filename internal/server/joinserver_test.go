package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/internal/etcd"
	"github.com/skiff-k8s/skiff/internal/join"
	"github.com/skiff-k8s/skiff/internal/pki"
	"github.com/skiff-k8s/skiff/internal/token"
)

// firstServer is the join side of a running embedded-etcd server: its
// real join endpoints and /cacerts on TLS, serving its tls folder's keys,
// with a clock that can be set off from this host's.
type firstServer struct {
	url   string
	token token.Token
	skew  atomic.Int64 // how far its clock is ahead, in nanoseconds
}

func newFirstServer(t *testing.T) *firstServer {
	t.Helper()
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	files, err := pki.Ensure(pki.Options{Dir: tlsDir, ServingIPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.EnsureCA(filepath.Join(tlsDir, etcd.CAFiles[0]), filepath.Join(tlsDir, etcd.CAFiles[1]), "skiff-etcd-ca"); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(files.ServerCACert)
	if err != nil {
		t.Fatal(err)
	}
	s := &firstServer{}
	if s.token, err = token.Ensure(filepath.Join(dir, "token"), "", caPEM); err != nil {
		t.Fatal(err)
	}
	js := join.NewServer(join.ServerConfig{ServerToken: s.token, AgentToken: s.token, ServerBootstrap: readServerBootstrap(tlsDir)})
	mux := http.NewServeMux()
	mux.HandleFunc("/cacerts", func(w http.ResponseWriter, r *http.Request) { w.Write(caPEM) })
	for p, h := range js.Routes() {
		mux.Handle(p, h)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// net/http keeps a Date header the handler set.
		w.Header().Set("Date", time.Now().Add(time.Duration(s.skew.Load())).UTC().Format(http.TimeFormat))
		mux.ServeHTTP(w, r)
	}))
	pair, err := tls.LoadX509KeyPair(files.ServingKubeAPIServerCert, files.ServingKubeAPIServerKey)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// joining is the config of a fresh server joining s.
func (s *firstServer) joining(t *testing.T) Config {
	return Config{DataDir: filepath.Join(t.TempDir(), "data"), ServerURL: s.url, Token: s.token.String()}
}

// listTree lists every path under dir ("" for none).
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// TestJoinRefusesASkewedClock: a server whose clock is more than
// maxServerClockSkew from the first server's is refused in one line that
// says by how much and what to do, before it writes anything (its data
// dir is not even created) and so before any etcd member is asked for.
func TestJoinRefusesASkewedClock(t *testing.T) {
	s := newFirstServer(t)
	for _, tc := range []struct {
		skew time.Duration
		want string
	}{
		{2 * time.Minute, "behind the clock of the server at " + s.url},
		{-10 * time.Minute, "ahead of the clock of the server at " + s.url},
	} {
		s.skew.Store(int64(tc.skew))
		cfg := s.joining(t)
		_, err := prepareJoin(context.Background(), cfg, cfg.paths())
		if err == nil {
			t.Fatalf("the first server's clock %s ahead: the join was not refused", tc.skew)
		}
		msg := err.Error()
		for _, want := range []string{"this host's clock is", tc.want, "more than the 30s", "NTP"} {
			if !strings.Contains(msg, want) {
				t.Errorf("the first server's clock %s ahead: %q does not say %q", tc.skew, msg, want)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("the refusal is not one line: %q", msg)
		}
		if got := listTree(t, cfg.DataDir); len(got) > 0 {
			t.Errorf("a refused join wrote %v", got)
		}
		t.Logf("refused: %s", msg)
	}
}

// TestJoinAcceptsASmallSkew: within the bound the join goes on, and
// writes the cluster's keys only when told to.
func TestJoinAcceptsASmallSkew(t *testing.T) {
	s := newFirstServer(t)
	s.skew.Store(int64(10 * time.Second))
	cfg := s.joining(t)
	// An external datastore, so that the join does not check etcd's ports
	// (a test's host may have an etcd on them); the keys are the same.
	cfg.DatastoreEndpoint = "postgres://u:p@127.0.0.1:1/db"
	p := cfg.paths()
	j, err := prepareJoin(context.Background(), cfg, p)
	if err != nil {
		t.Fatalf("a clock 10 s off was refused: %v", err)
	}
	if got := listTree(t, cfg.DataDir); len(got) > 0 {
		t.Errorf("prepareJoin wrote %v", got)
	}
	if err := j.write(p); err != nil {
		t.Fatal(err)
	}
	for _, name := range bootstrapFiles {
		if _, err := os.Stat(filepath.Join(p.tls, name)); err != nil {
			t.Errorf("after the join: %v", err)
		}
	}
}

// TestJoinRefusesAnotherClustersCA: a data dir holding another cluster's
// CA, and a token of another cluster, are each refused in one line with
// nothing changed.
func TestJoinRefusesAnotherClustersCA(t *testing.T) {
	s, other := newFirstServer(t), newFirstServer(t)

	// A data dir that has keys of its own (a server of another cluster,
	// or one started alone before) joins s.
	cfg := s.joining(t)
	p := cfg.paths()
	if _, err := pki.Ensure(pki.Options{Dir: p.tls}); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, cfg.DataDir)
	_, err := prepareJoin(context.Background(), cfg, p)
	if err == nil || !strings.Contains(err.Error(), "belongs to another cluster than the one at "+s.url) || !strings.Contains(err.Error(), "empty --data-dir") {
		t.Errorf("a data dir of another cluster: %v, want a refusal saying it belongs to another cluster", err)
	} else {
		t.Logf("refused: %s", err)
	}
	if after := listTree(t, cfg.DataDir); !slices.Equal(before, after) {
		t.Errorf("the refused join changed the data dir: %v, then %v", before, after)
	}

	// The other cluster's token names another CA than s serves.
	cfg = s.joining(t)
	cfg.Token = other.token.String()
	_, err = prepareJoin(context.Background(), cfg, cfg.paths())
	if err == nil || !strings.Contains(err.Error(), "does not match the CA hash in the token") {
		t.Errorf("another cluster's token: %v, want a refusal naming the CA hash", err)
	}
	if got := listTree(t, cfg.DataDir); len(got) > 0 {
		t.Errorf("a refused join wrote %v", got)
	}
}
