package dbharness

import (
	"context"
	"crypto/tls"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EtcdOptions change how StartEtcd runs etcd.
type EtcdOptions struct {
	// TLS, when set, makes etcd serve clients over TLS with Certs'
	// serving pair and refuse any client without a certificate its CA
	// signed.
	TLS *Certs
}

// StartEtcd runs a one-member etcd on free loopback ports.
func StartEtcd(o EtcdOptions) (*Server, error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, fmt.Errorf("etcd is not installed: scripts/deps --test installs it (Debian: etcd-server)")
	}
	dir, err := newDir("etcd")
	if err != nil {
		return nil, err
	}
	s := &Server{Kind: "etcd", Dir: dir, stopSignal: syscall.SIGTERM}
	if s.Port, err = freePort(); err != nil {
		return s.failed(err)
	}
	peer, err := freePort()
	if err != nil {
		return s.failed(err)
	}
	scheme := "http"
	if o.TLS != nil {
		scheme = "https"
	}
	client := fmt.Sprintf("%s://127.0.0.1:%d", scheme, s.Port)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	args := []string{
		"--name", "e2e", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "e2e=" + peerURL,
	}
	if o.TLS != nil {
		args = append(args, "--cert-file", o.TLS.ServerCert, "--key-file", o.TLS.ServerKey,
			"--trusted-ca-file", o.TLS.CA, "--client-cert-auth")
	}
	if err := s.launch(command(nil, bin, args...)); err != nil {
		return s.failed(err)
	}
	var tlsCfg *tls.Config
	if o.TLS != nil {
		info := transport.TLSInfo{CertFile: o.TLS.ClientCert, KeyFile: o.TLS.ClientKey, TrustedCAFile: o.TLS.CA}
		if tlsCfg, err = info.ClientConfig(); err != nil {
			return s.failed(err)
		}
	}
	if err := s.waitFor(func() error { return etcdAnswers(client, tlsCfg) }); err != nil {
		return s.failed(err)
	}
	s.Endpoint = client
	return s, nil
}

// Etcd is StartEtcd for a test, stopped at its end.
func Etcd(t testing.TB, o EtcdOptions) *Server {
	t.Helper()
	s, err := StartEtcd(o)
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	cleanup(t, s)
	return s
}

func etcdAnswers(endpoint string, tlsCfg *tls.Config) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, TLS: tlsCfg})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = cli.Get(ctx, "health")
	return err
}
