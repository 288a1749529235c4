package agent

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/skiff-k8s/skiff/internal/fsutil"
	"github.com/skiff-k8s/skiff/internal/join"
	"github.com/skiff-k8s/skiff/internal/pki"
)

// fetchCredentials asks the server for the node's certificates. The keys
// are made here and kept across joins; only certificate requests travel.
func fetchCredentials(ctx context.Context, c *join.Client, p Paths, hostname string, ips []net.IP) error {
	if err := os.MkdirAll(p.TLS, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", p.TLS, err)
	}
	req := join.CertRequest{Hostname: hostname}
	for _, ip := range ips {
		req.IPs = append(req.IPs, ip.String())
	}
	for _, k := range []struct {
		keyFile string
		csr     *[]byte
	}{
		{p.KubeletClientKey, &req.KubeletClient},
		{p.KubeletServingKey, &req.KubeletServing},
		{p.KubeProxyKey, &req.KubeProxy},
	} {
		key, err := pki.EnsureKey(k.keyFile)
		if err != nil {
			return err
		}
		if *k.csr, err = pki.CSR(key, "skiff-node"); err != nil {
			return err
		}
	}
	resp, err := c.NodeCerts(ctx, req)
	if err != nil {
		return err
	}
	for path, data := range map[string][]byte{
		p.ServerCA:           resp.ServerCA,
		p.ClientCA:           resp.ClientCA,
		p.KubeletClientCert:  resp.KubeletClient,
		p.KubeletServingCert: resp.KubeletServing,
		p.KubeProxyCert:      resp.KubeProxy,
	} {
		if len(data) == 0 {
			return fmt.Errorf("the server sent no %s", path)
		}
		if err := fsutil.WriteFile(path, data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}
