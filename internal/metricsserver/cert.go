package metricsserver

import (
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"

	"github.com/skiff-k8s/skiff/internal/pki"
)

// Names of the serving certificate and key in Config.CertDir, beside the
// apiserver's serving-kube-apiserver.crt.
const (
	servingCertName = "serving-metrics-server.crt"
	servingKeyName  = "serving-metrics-server.key"
)

// serviceHost is the name the aggregator checks the serving certificate
// against: kube-aggregator sets the TLS ServerName of its proxy and of its
// availability check to <service>.<namespace>.svc, whatever address it
// dials (k8s.io/kube-aggregator, remote.BuildTransportConfig).
const serviceHost = ServiceName + "." + Namespace + ".svc"

// servingLeaf is what the serving certificate says: the Service's DNS
// names, which is what the aggregator checks, and the advertised address,
// for a client that dials it directly.
func servingLeaf(c Config) pki.Leaf {
	dns := []string{serviceHost, ServiceName + "." + Namespace, ServiceName}
	if c.ClusterDomain != "" {
		dns = append(dns, serviceHost+"."+c.ClusterDomain)
	}
	return pki.Leaf{
		CertFile: filepath.Join(c.CertDir, servingCertName),
		KeyFile:  filepath.Join(c.CertDir, servingKeyName),
		CN:       ServiceName,
		Usage:    []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPs:      []net.IP{c.AdvertiseIP},
		DNS:      dns,
	}
}

// ensureServingCert issues the serving certificate, or renews it by
// internal/pki's rules (near expiry, or names that changed with the
// advertise address or cluster domain; the key is kept). New does it, so
// that, like the server's other certificates, it is in place before any
// part runs, and only when the addon is enabled.
func ensureServingCert(c Config) (certFile, keyFile string, err error) {
	leaf := servingLeaf(c)
	if err := c.ServerCA.EnsureLeaf(leaf); err != nil {
		return "", "", fmt.Errorf("metrics-server: issuing its serving certificate %s: %w", leaf.CertFile, err)
	}
	return leaf.CertFile, leaf.KeyFile, nil
}
