package pki

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCASignNodeCert(t *testing.T) {
	f := mustEnsure(t, testOptions(t.TempDir(), t0))
	ca, err := LoadCA(f.ServerCACert, f.ServerCAKey)
	if err != nil {
		t.Fatal(err)
	}

	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	certPEM, keyPEM, err := ca.Sign("system:node:node1", []string{"system:nodes"}, usage,
		[]net.IP{net.ParseIP("192.168.1.20")}, []string{"node1"}, LeafValidity)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !matches(cert, key) {
		t.Error("key does not match certificate")
	}
	if cert.Subject.CommonName != "system:node:node1" || !slices.Equal(cert.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("subject = %v", cert.Subject)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "node1", KeyUsages: usage}); err != nil {
		t.Errorf("verify: %v", err)
	}
	if err := cert.VerifyHostname("192.168.1.20"); err != nil {
		t.Error(err)
	}
	if !strings.HasPrefix(string(keyPEM), "-----BEGIN EC PRIVATE KEY-----") {
		t.Errorf("key is not SEC1 PEM")
	}
}

func TestCASignNeverOutlivesCA(t *testing.T) {
	f := mustEnsure(t, testOptions(t.TempDir(), t0))
	ca, err := loadCA(f.ClientCACert, f.ClientCAKey, func() time.Time { return t0.Add(CAValidity - 30*24*time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.Sign("late", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil, LeafValidity)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter = %s, want the CA's %s", cert.NotAfter, ca.Cert.NotAfter)
	}
}

func TestCASignRejectsNoValidity(t *testing.T) {
	f := mustEnsure(t, testOptions(t.TempDir(), t0))
	ca, err := LoadCA(f.ServerCACert, f.ServerCAKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.Sign("x", nil, nil, nil, nil, 0); err == nil {
		t.Error("Sign with zero validity succeeded")
	}
}

func TestLoadCAErrors(t *testing.T) {
	dir := t.TempDir()
	f := mustEnsure(t, testOptions(dir, t0))
	tests := []struct {
		name, cert, key string
		wantIn          string
	}{
		{"not a CA", f.ClientAdminCert, f.ClientAdminKey, "client-admin.crt"},
		{"wrong key", f.ServerCACert, f.ClientCAKey, "client-ca.key"},
		{"missing cert", filepath.Join(dir, "nope.crt"), f.ServerCAKey, "nope.crt"},
		{"missing key", f.ServerCACert, filepath.Join(dir, "nope.key"), "nope.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCA(tt.cert, tt.key)
			if err == nil {
				t.Fatal("LoadCA succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not name %s", err, tt.wantIn)
			}
		})
	}
}

func TestEnsureLeafKeepsGoodAndReissuesRenamed(t *testing.T) {
	dir := t.TempDir()
	files, err := Ensure(Options{Dir: dir, ServingIPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(files.ClientCACert, files.ClientCAKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := Leaf{
		CertFile: dir + "/node.crt", KeyFile: dir + "/node.key",
		CN: "system:node:a", Orgs: []string{"system:nodes"},
		Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if err := ca.EnsureLeaf(leaf); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(leaf.CertFile)
	if err := ca.EnsureLeaf(leaf); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(leaf.CertFile)
	if string(first) != string(second) {
		t.Fatal("a good certificate was re-issued")
	}
	leaf.CN = "system:node:b"
	if err := ca.EnsureLeaf(leaf); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(mustRead(t, leaf.CertFile))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "system:node:b" {
		t.Fatalf("CN %q after a rename, want system:node:b", cert.Subject.CommonName)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
