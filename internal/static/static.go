package static

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// Prefix is the URL path the folder is served under.
const Prefix = "/static/"

// Handler serves dir under Prefix.
type Handler struct {
	dir      string
	clientCA *x509.CertPool
	tokens   kubernetes.Interface
}

// New serves dir to clients with a certificate from clientCA or a token
// the API behind client accepts.
func New(dir string, clientCAFile string, client kubernetes.Interface) (*Handler, error) {
	pem, err := os.ReadFile(clientCAFile)
	if err != nil {
		return nil, fmt.Errorf("static files: reading the client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("static files: %s holds no certificate", clientCAFile)
	}
	return &Handler{dir: dir, clientCA: pool, tokens: client}, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.authenticated(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="skiff"`)
		http.Error(w, "Unauthorized: present a client certificate of this cluster or a bearer token", http.StatusUnauthorized)
		return
	}
	rel := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, Prefix)), "/")
	if rel == "" {
		http.NotFound(w, r)
		return
	}
	file := filepath.Join(h.dir, filepath.FromSlash(rel))
	st, err := os.Stat(file)
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	http.ServeFile(w, r, file)
}

func (h *Handler) authenticated(r *http.Request) bool {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		inter := x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := r.TLS.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots: h.clientCA, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err == nil {
			return true
		}
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	review, err := h.tokens.AuthenticationV1().TokenReviews().Create(ctx,
		&authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: strings.TrimSpace(tok)}}, metav1.CreateOptions{})
	if err != nil {
		klog.V(2).InfoS("Static files: token review failed", "err", err)
		return false
	}
	return review.Status.Authenticated
}
