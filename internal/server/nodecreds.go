package server

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/skiff-k8s/skiff/internal/agent"
	"github.com/skiff-k8s/skiff/internal/fsutil"
	"github.com/skiff-k8s/skiff/internal/pki"
)

// issueLocalNodeCredentials gives the server's own node what a joining agent
// would receive from the supervisor: the CAs, the kubelet's client and
// serving certificates, and kube-proxy's client certificate.
func issueLocalNodeCredentials(c certFiles, ca signers, p agent.Paths, nodeName string, nodeIP net.IP) error {
	if err := os.MkdirAll(p.TLS, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", p.TLS, err)
	}
	for from, to := range map[string]string{c.serverCA: p.ServerCA, c.clientCA: p.ClientCA} {
		if err := copyIfChanged(from, to); err != nil {
			return err
		}
	}
	clientCA, serverCA := ca.client, ca.server
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	leaves := []struct {
		ca   *pki.CA
		leaf pki.Leaf
	}{
		{clientCA, pki.Leaf{CertFile: p.KubeletClientCert, KeyFile: p.KubeletClientKey,
			CN: "system:node:" + nodeName, Orgs: []string{"system:nodes"}, Usage: clientAuth}},
		{clientCA, pki.Leaf{CertFile: p.KubeProxyCert, KeyFile: p.KubeProxyKey,
			CN: "system:kube-proxy", Usage: clientAuth}},
		{serverCA, pki.Leaf{CertFile: p.KubeletServingCert, KeyFile: p.KubeletServingKey,
			CN: nodeName, Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPs: []net.IP{nodeIP, net.ParseIP("127.0.0.1")}, DNS: []string{nodeName, "localhost"}}},
	}
	for _, l := range leaves {
		if err := l.ca.EnsureLeaf(l.leaf); err != nil {
			return fmt.Errorf("issuing %s: %w", filepath.Base(l.leaf.CertFile), err)
		}
	}
	return nil
}

func copyIfChanged(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("reading %s: %w", from, err)
	}
	if old, err := os.ReadFile(to); err == nil && string(old) == string(data) {
		return nil
	}
	return fsutil.WriteFile(to, data, 0o644)
}
