package kubeconfig

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// Spec says who talks to which server.
type Spec struct {
	Server   string // https://127.0.0.1:6443
	CAFile   string
	CertFile string
	KeyFile  string
	// Embed copies the certificates into the file, for a kubeconfig that is
	// meant to be moved elsewhere; otherwise the file references the paths.
	Embed bool
}

// Write writes the kubeconfig atomically with the given mode.
func Write(path string, spec Spec, mode os.FileMode) error {
	cluster := &clientcmdapi.Cluster{Server: spec.Server}
	user := &clientcmdapi.AuthInfo{}
	if spec.Embed {
		var err error
		if cluster.CertificateAuthorityData, err = os.ReadFile(spec.CAFile); err != nil {
			return fmt.Errorf("reading the CA for %s: %w", path, err)
		}
		if user.ClientCertificateData, err = os.ReadFile(spec.CertFile); err != nil {
			return fmt.Errorf("reading the client certificate for %s: %w", path, err)
		}
		if user.ClientKeyData, err = os.ReadFile(spec.KeyFile); err != nil {
			return fmt.Errorf("reading the client key for %s: %w", path, err)
		}
	} else {
		cluster.CertificateAuthority = spec.CAFile
		user.ClientCertificate = spec.CertFile
		user.ClientKey = spec.KeyFile
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = cluster
	cfg.AuthInfos["default"] = user
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	cfg.CurrentContext = "default"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating the folder of %s: %w", path, err)
	}
	return fsutil.WriteFile(path, data, mode)
}
