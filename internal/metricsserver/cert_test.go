package metricsserver

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"
	"time"
)

// The serving certificate verifies against the server CA for the name the
// aggregator checks and for the advertised address; a second start keeps
// it byte for byte, and a changed address re-issues it with the same key.
func TestServingCert(t *testing.T) {
	c := validConfig(t)
	certFile, keyFile, err := ensureServingCert(c)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(c.ServerCA.Cert)
	for _, name := range []string{"metrics-server.kube-system.svc", "metrics-server.kube-system.svc.cluster.local", "192.0.2.10"} {
		opts := x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := cert.Verify(opts); err != nil {
			t.Errorf("the certificate does not verify for %s: %v", name, err)
		}
	}
	if left := time.Until(cert.NotAfter); left < 300*24*time.Hour {
		t.Errorf("the certificate expires in %v, want about a year", left)
	}

	before, _ := os.ReadFile(certFile)
	if _, _, err := ensureServingCert(c); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(certFile); !bytes.Equal(before, again) {
		t.Error("a second start re-issued a certificate that was still good")
	}

	keyBefore, _ := os.ReadFile(keyFile)
	c.AdvertiseIP = net.ParseIP("192.0.2.20")
	if _, _, err := ensureServingCert(c); err != nil {
		t.Fatal(err)
	}
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(pair.Certificate[0])
	if err := cert.VerifyHostname("192.0.2.20"); err != nil {
		t.Errorf("after the address changed: %v", err)
	}
	if keyAfter, _ := os.ReadFile(keyFile); !bytes.Equal(keyBefore, keyAfter) {
		t.Error("re-issuing the certificate replaced its key")
	}
}
