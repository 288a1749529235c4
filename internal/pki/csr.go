package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// EnsureKey returns the private key kept at path, creating it (mode 0600)
// when there is none. A node keeps its keys across rejoins, so certificates
// renewed by the server keep working with what is already loaded.
func EnsureKey(path string) (crypto.Signer, error) {
	key, err := readKey(path)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k, err := newKey()
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(k)
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(path, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return k, nil
}

// CSR returns a PEM certificate request for key. The signer decides the
// certificate's names; the request only proves possession of the key.
func CSR(key crypto.Signer, cn string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		return nil, fmt.Errorf("creating a certificate request for %q: %w", cn, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}
