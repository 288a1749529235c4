package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/kubeconfig"
)

// writeComponentKubeconfigs gives the in-process components their
// credentials for the apiserver's loopback port.
func writeComponentKubeconfigs(cfg Config, p paths, c certFiles) error {
	server := fmt.Sprintf("https://127.0.0.1:%d", cfg.apiserverPort())
	for name, pair := range map[string][2]string{
		"scheduler.kubeconfig":  {c.schedulerCert, c.schedulerKey},
		"controller.kubeconfig": {c.controllerCert, c.controllerKey},
		"admin.kubeconfig":      {c.adminCert, c.adminKey},
		"supervisor.kubeconfig": {c.supervisorCert, c.supervisorKey},
	} {
		spec := kubeconfig.Spec{Server: server, CAFile: c.serverCA, CertFile: pair[0], KeyFile: pair[1]}
		if err := kubeconfig.Write(filepath.Join(p.cred, name), spec, 0o600); err != nil {
			return fmt.Errorf("writing component credentials: %w", err)
		}
	}
	return nil
}

// adminKubeconfig writes the user's kubeconfig once the API serves, so that
// a kubeconfig on disk means a cluster that answers.
type adminKubeconfig struct {
	cfg   Config
	mode  os.FileMode
	certs certFiles
}

var _ component.Component = (*adminKubeconfig)(nil)

func (a *adminKubeconfig) Name() string { return "admin-kubeconfig" }

func (a *adminKubeconfig) Start(context.Context) error {
	if a.cfg.WriteKubeconfig == "" {
		return nil
	}
	spec := kubeconfig.Spec{
		Server:   fmt.Sprintf("https://127.0.0.1:%d", a.cfg.HTTPSPort),
		CAFile:   a.certs.serverCA,
		CertFile: a.certs.adminCert,
		KeyFile:  a.certs.adminKey,
		Embed:    true,
	}
	if err := kubeconfig.Write(a.cfg.WriteKubeconfig, spec, a.mode); err != nil {
		return fmt.Errorf("writing the admin kubeconfig (--write-kubeconfig): %w", err)
	}
	return nil
}

func (a *adminKubeconfig) Ready(context.Context) error { return nil }
func (a *adminKubeconfig) Stop(context.Context) error  { return nil }
