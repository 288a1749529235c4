package token

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// adminTimeout bounds each request of the token commands, so that a server
// that accepts connections but does not answer does not hang them.
const adminTimeout = 30 * time.Second

// Admin is a cluster reached through an admin kubeconfig: what `skiff
// token` works with.
type Admin struct {
	Client     kubernetes.Interface
	Host       string // the server URL the kubeconfig names
	Kubeconfig string

	kubeconfigCA []byte
}

// OpenAdmin loads kubeconfig (one path, or a list as in $KUBECONFIG) and
// builds a client from its current context. It does not contact the server.
func OpenAdmin(kubeconfig string) (*Admin, error) {
	paths := filepath.SplitList(kubeconfig)
	if len(paths) == 0 {
		return nil, errors.New("no kubeconfig given; point --kubeconfig at the admin kubeconfig of a skiff server (/etc/skiff/skiff.yaml on a server)")
	}
	for _, p := range paths {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("kubeconfig %s does not exist; point --kubeconfig at the admin kubeconfig of a skiff server (/etc/skiff/skiff.yaml on a server)", p)
		} else if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
	}
	rules := &clientcmd.ClientConfigLoadingRules{Precedence: paths}
	if len(paths) == 1 {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: paths[0]}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig %s: %w", kubeconfig, err)
	}
	ca := cfg.TLSClientConfig.CAData
	if len(ca) == 0 && cfg.TLSClientConfig.CAFile != "" {
		if ca, err = os.ReadFile(cfg.TLSClientConfig.CAFile); err != nil {
			return nil, fmt.Errorf("reading the certificate authority of kubeconfig %s: %w", kubeconfig, err)
		}
	}
	if len(ca) == 0 {
		return nil, fmt.Errorf("kubeconfig %s names no certificate authority, so a token cannot pin the cluster's CA; use the admin kubeconfig a skiff server writes (/etc/skiff/skiff.yaml)", kubeconfig)
	}
	if err := checkPEMCertificate(ca); err != nil {
		return nil, fmt.Errorf("the certificate authority of kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.Timeout = adminTimeout
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building a client from kubeconfig %s: %w", kubeconfig, err)
	}
	return &Admin{Client: client, Host: cfg.Host, Kubeconfig: kubeconfig, kubeconfigCA: ca}, nil
}

// CAPEM returns the CA certificate file joining agents pin: the body of the
// server's GET /cacerts, which agents hash. A skiff supervisor serves
// server-ca.crt there, and the admin kubeconfig skiff writes embeds that
// same file byte for byte, so the two agree; /cacerts is asked anyway so
// that a kubeconfig with another encoding of the CA (a bundle, say) still
// gives the hash agents will compute. Where the server does not serve
// /cacerts (a kubeconfig naming the apiserver's own loopback port), the
// kubeconfig's CA is used.
func (a *Admin) CAPEM(ctx context.Context) ([]byte, error) {
	body, err := a.Client.CoreV1().RESTClient().Get().AbsPath("/cacerts").Do(ctx).Raw()
	var status apierrors.APIStatus
	switch {
	case err == nil && checkPEMCertificate(body) == nil:
		return body, nil
	case err == nil, errors.As(err, &status):
		return a.kubeconfigCA, nil // answered, but not with a CA
	default:
		return nil, fmt.Errorf("reaching the server at %s (kubeconfig %s): %w; is the skiff server running?", a.Host, a.Kubeconfig, err)
	}
}

func checkPEMCertificate(data []byte) error {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return errors.New("no PEM certificate in it")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return fmt.Errorf("the certificate does not parse: %w", err)
	}
	return nil
}
