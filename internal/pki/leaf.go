package pki

import (
	"crypto/x509"
	"net"
)

// Leaf describes one certificate that a CA keeps issued: a node's kubelet
// client and serving certificates, for example.
type Leaf struct {
	CertFile, KeyFile string
	CN                string
	Orgs              []string
	Usage             []x509.ExtKeyUsage
	IPs               []net.IP
	DNS               []string
}

// EnsureLeaf creates, renews or keeps the certificate by the same rules as
// Ensure: a missing one is issued, one near expiry or whose subject, usage or
// SANs no longer match is re-issued with the same key, and a good one is kept.
func (ca *CA) EnsureLeaf(l Leaf) error {
	return ensureLeaf(leafSpec{
		cert: l.CertFile,
		key:  l.KeyFile,
		ca:   ca,
		req: leafRequest{
			cn: l.CN, orgs: l.Orgs, usage: l.Usage,
			ips: uniqueIPs(l.IPs), dns: uniqueNames(l.DNS), validity: LeafValidity,
		},
	}, ca.now())
}
