package etcd

import (
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"

	"github.com/skiff-k8s/skiff/internal/datastore"
	"github.com/skiff-k8s/skiff/internal/pki"
)

// Files are the certificates under <data-dir>/server/tls/etcd. The CA is
// shared by every server of the cluster (it travels in the server
// bootstrap); the others each server issues itself from it.
type Files struct {
	CA, CAKey             string
	ServerCert, ServerKey string // client-facing serving certificate
	PeerCert, PeerKey     string // peer traffic, both directions
	ClientCert, ClientKey string // the apiserver's and tools' identity
}

// CAFiles are the names, relative to the tls folder, of what a joining
// server must receive to be a member: the etcd CA and its key.
var CAFiles = []string{"etcd/server-ca.crt", "etcd/server-ca.key"}

// FilesIn names the files in dir (<data-dir>/server/tls/etcd).
func FilesIn(dir string) Files {
	f := func(name string) string { return filepath.Join(dir, name) }
	return Files{
		CA: f("server-ca.crt"), CAKey: f("server-ca.key"),
		ServerCert: f("server-client.crt"), ServerKey: f("server-client.key"),
		PeerCert: f("peer-server-client.crt"), PeerKey: f("peer-server-client.key"),
		ClientCert: f("client.crt"), ClientKey: f("client.key"),
	}
}

// Client is what a client of this member uses.
func (f Files) Client() datastore.TLSFiles {
	return datastore.TLSFiles{CAFile: f.CA, CertFile: f.ClientCert, KeyFile: f.ClientKey}
}

// ensure creates the CA when missing and issues (or renews) this member's
// certificates for its node address.
func (f Files) ensure(name string, nodeIP net.IP) error {
	ca, err := pki.EnsureCA(f.CA, f.CAKey, "skiff-etcd-ca")
	if err != nil {
		return fmt.Errorf("etcd CA: %w", err)
	}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	loopback := net.ParseIP("127.0.0.1")
	for _, l := range []pki.Leaf{
		{CertFile: f.ServerCert, KeyFile: f.ServerKey, CN: name, Usage: both,
			IPs: []net.IP{loopback, nodeIP}, DNS: []string{"localhost", name}},
		{CertFile: f.PeerCert, KeyFile: f.PeerKey, CN: name, Usage: both,
			IPs: []net.IP{nodeIP, loopback}, DNS: []string{"localhost", name}},
		{CertFile: f.ClientCert, KeyFile: f.ClientKey, CN: "etcd-client",
			Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
	} {
		if err := ca.EnsureLeaf(l); err != nil {
			return fmt.Errorf("etcd certificate %s: %w", filepath.Base(l.CertFile), err)
		}
	}
	return nil
}
