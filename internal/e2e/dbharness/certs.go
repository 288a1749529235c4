package dbharness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Certs are the files of a CA made for one test, a serving certificate it
// signed for 127.0.0.1, and a client certificate it signed: what a
// datastore demanding client certificates and skiff's --datastore-cafile,
// --datastore-certfile and --datastore-keyfile need.
type Certs struct {
	CA         string
	ServerCert string
	ServerKey  string
	ClientCert string
	ClientKey  string
}

// MakeCerts writes a fresh CA, serving and client pair under dir, readable
// by everyone (the database servers run as their own users; these are
// throw-away test keys).
func MakeCerts(dir string) (Certs, error) {
	c := Certs{
		CA:         filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"), ServerKey: filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key"),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return c, err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dbharness-ca"},
		NotBefore: now, NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return c, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	if err := writePEM(c.CA, "CERTIFICATE", caDER); err != nil {
		return c, err
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, certPath, keyPath string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now, NotAfter: now.Add(48 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
			return err
		}
		return writePEM(keyPath, "PRIVATE KEY", keyDER)
	}
	if err := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, c.ServerCert, c.ServerKey); err != nil {
		return c, fmt.Errorf("making the serving certificate: %w", err)
	}
	// Named "skiff": the user PostgreSQL's cert authentication would map.
	if err := leaf(3, "skiff", x509.ExtKeyUsageClientAuth, c.ClientCert, c.ClientKey); err != nil {
		return c, fmt.Errorf("making the client certificate: %w", err)
	}
	return c, nil
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o644)
}

// TLS makes a PostgreSQL or MariaDB server started here speak TLS only.
type TLS struct {
	// Certs holds the serving pair the server shows and the CA that
	// signed it (and the client certificate, for ClientCert).
	Certs Certs
	// ClientCert makes the server also refuse skiff's user unless it
	// shows a client certificate the CA signed (named skiff).
	ClientCert bool
}

// serverFiles copies the serving pair and the CA into dir, owned by the
// server's user a: the servers refuse a key others can read, and cannot
// reach the test's own temp dir, which only root may enter.
func (o TLS) serverFiles(dir string, a account) (cert, key, ca string, err error) {
	cert, key, ca = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.crt")
	for _, f := range []struct{ from, to string }{{o.Certs.ServerCert, cert}, {o.Certs.ServerKey, key}, {o.Certs.CA, ca}} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			return "", "", "", err
		}
		if err := os.WriteFile(f.to, b, 0o600); err != nil {
			return "", "", "", err
		}
		if err := os.Chown(f.to, int(a.uid), int(a.gid)); err != nil {
			return "", "", "", err
		}
	}
	return cert, key, ca, nil
}
