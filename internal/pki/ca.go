package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

const (
	// CAValidity is how long a new CA is valid. CAs are never renewed
	// automatically, so it is long.
	CAValidity = 10 * 365 * 24 * time.Hour
	// LeafValidity is how long certificates signed for components and nodes
	// are valid; Ensure renews them well before they run out.
	LeafValidity = 365 * 24 * time.Hour
	// backdate lets a certificate be accepted by a peer whose clock is a
	// little behind ours.
	backdate = time.Hour
)

// CA is a certificate authority whose key is at hand, able to sign leaf
// certificates.
type CA struct {
	Cert *x509.Certificate
	// CertPEM is the CA file exactly as stored; join tokens hash these bytes.
	CertPEM []byte
	Key     crypto.Signer

	now func() time.Time
}

// LoadCA reads a CA certificate and its key, checking that they belong
// together and that the certificate may sign others.
func LoadCA(certFile, keyFile string) (*CA, error) {
	return loadCA(certFile, keyFile, time.Now)
}

func loadCA(certFile, keyFile string, now func() time.Time) (*CA, error) {
	cert, certPEM, err := readCert(certFile)
	if err != nil {
		return nil, err
	}
	key, err := readKey(keyFile)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("loading CA: %s is not a CA certificate", certFile)
	}
	if !matches(cert, key) {
		return nil, fmt.Errorf("loading CA: key %s does not belong to certificate %s", keyFile, certFile)
	}
	return &CA{Cert: cert, CertPEM: certPEM, Key: key, now: now}, nil
}

// newCA makes a self-signed CA. The creation time in the common name keeps
// CAs from different installs apart in clients' trust stores and logs.
func newCA(name string, now time.Time) (ca *CA, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", name, now.Unix())},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating CA certificate %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing new CA certificate %s: %w", name, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return &CA{Cert: cert, CertPEM: encodeCert(der), Key: key, now: func() time.Time { return now }}, keyPEM, nil
}

// Sign makes a new ECDSA P-256 key and a certificate for it, valid for
// validity from now (but never past the CA's own expiry).
func (ca *CA) Sign(cn string, orgs []string, usage []x509.ExtKeyUsage, ips []net.IP, dns []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	certPEM, err = ca.issue(leafRequest{cn: cn, orgs: orgs, usage: usage, ips: ips, dns: dns, validity: validity}, key.Public())
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// leafRequest is what a leaf certificate should say.
type leafRequest struct {
	cn       string
	orgs     []string
	usage    []x509.ExtKeyUsage
	ips      []net.IP
	dns      []string
	validity time.Duration
}

// issue signs a certificate for an existing public key, so that renewals
// can keep a key that other processes may already have loaded.
func (ca *CA) issue(req leafRequest, pub crypto.PublicKey) ([]byte, error) {
	if req.validity <= 0 {
		return nil, fmt.Errorf("signing certificate for %q: validity must be positive", req.cn)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now
	if ca.now != nil {
		now = ca.now
	}
	t := now()
	notAfter := t.Add(req.validity)
	// A certificate claiming to outlive its issuer would only fail later,
	// and more confusingly.
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.cn, Organization: req.orgs},
		NotBefore:             t.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           req.usage,
		BasicConstraintsValid: true,
		IPAddresses:           uniqueIPs(req.ips),
		DNSNames:              uniqueNames(req.dns),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("signing certificate for %q: %w", req.cn, err)
	}
	return encodeCert(der), nil
}

// newSerial returns a random positive 128-bit serial number, as RFC 5280
// asks serials to be unique per CA and unpredictable.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	// Zero is not a valid serial; shifting by one keeps the range uniform.
	return n.Add(n, big.NewInt(1)), nil
}

// uniqueIPs drops nils and duplicates (an IPv4 address given in its 16-byte
// form is the same address).
func uniqueIPs(ips []net.IP) []net.IP {
	var out []net.IP
	for _, ip := range ips {
		if ip == nil {
			continue
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		if !containsIP(out, ip) {
			out = append(out, ip)
		}
	}
	return out
}

// uniqueNames drops empty names and duplicates; DNS names compare without
// regard to case.
func uniqueNames(names []string) []string {
	var out []string
	for _, n := range names {
		if n != "" && !containsName(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func containsIP(ips []net.IP, ip net.IP) bool {
	for _, x := range ips {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}

func containsName(names []string, name string) bool {
	for _, x := range names {
		if strings.EqualFold(x, name) {
			return true
		}
	}
	return false
}

// SignCSR issues a certificate for the public key of a PEM certificate
// request, so that a joining node's keys never leave it. Only the key is
// taken from the request: what the certificate says (names, usages) is the
// caller's decision, not the requester's.
func (ca *CA) SignCSR(csrPEM []byte, cn string, orgs []string, usage []x509.ExtKeyUsage, ips []net.IP, dns []string, validity time.Duration) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("signing certificate for %q: the request is not a PEM CERTIFICATE REQUEST", cn)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing certificate for %q: parsing the request: %w", cn, err)
	}
	// Proves the requester holds the private key of what it asks to have
	// certified.
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("signing certificate for %q: the request's signature: %w", cn, err)
	}
	return ca.issue(leafRequest{cn: cn, orgs: orgs, usage: usage, ips: ips, dns: dns, validity: validity}, csr.PublicKey)
}
