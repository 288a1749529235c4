package static

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// issue makes a certificate for cn signed by parent (self-signed when
// parent is nil), for client authentication.
func issue(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestServesOnlyAuthenticatedClients(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "charts"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "charts", "a.tgz"), []byte("chart"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, caKey := issue(t, "client-ca", nil, nil)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	client, _ := issue(t, "admin", ca, caKey)
	other, _ := issue(t, "stranger", nil, nil)

	kube := fake.NewClientset()
	kube.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		review := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview)
		review.Status.Authenticated = review.Spec.Token == "good"
		return true, review, nil
	})
	h, err := New(dir, caFile, kube)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		path   string
		cert   *x509.Certificate
		bearer string
		want   int
	}{
		{"client cert of the cluster", "/static/charts/a.tgz", client, "", http.StatusOK},
		{"service account token", "/static/charts/a.tgz", nil, "good", http.StatusOK},
		{"anonymous", "/static/charts/a.tgz", nil, "", http.StatusUnauthorized},
		{"certificate of another CA", "/static/charts/a.tgz", other, "", http.StatusUnauthorized},
		{"token the API refuses", "/static/charts/a.tgz", nil, "bad", http.StatusUnauthorized},
		{"missing file", "/static/charts/b.tgz", client, "", http.StatusNotFound},
		{"no listing of a folder", "/static/charts/", client, "", http.StatusNotFound},
		{"no way out of the folder", "/static/../../etc/passwd", client, "", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://server"+tc.path, nil)
			r.URL.Path = tc.path // keep the dots httptest would clean
			r.TLS = &tls.ConnectionState{}
			if tc.cert != nil {
				r.TLS.PeerCertificates = []*x509.Certificate{tc.cert}
			}
			if tc.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.want, w.Body.String())
			}
			if tc.want == http.StatusOK && w.Body.String() != "chart" {
				t.Errorf("body %q", w.Body.String())
			}
		})
	}
}
