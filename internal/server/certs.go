package server

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	netutils "k8s.io/utils/net"

	"github.com/skiff-k8s/skiff/internal/pki"
)

// certFiles names the files internal/pki keeps in <data-dir>/server/tls.
type certFiles struct {
	serverCA, serverCAKey, clientCA, clientCAKey, requestHeaderCA string
	serviceKey                                                    string
	servingCert, servingKey                                       string
	adminCert, adminKey                                           string
	controllerCert, controllerKey                                 string
	schedulerCert, schedulerKey                                   string
	kubeletClientCert, kubeletClientKey                           string
	supervisorCert, supervisorKey                                 string
	authProxyCert, authProxyKey                                   string
}

func certPaths(dir string) certFiles {
	f := func(name string) string { return filepath.Join(dir, name) }
	return certFiles{
		serverCA: f("server-ca.crt"), serverCAKey: f("server-ca.key"),
		clientCA: f("client-ca.crt"), clientCAKey: f("client-ca.key"),
		requestHeaderCA: f("request-header-ca.crt"),
		serviceKey:      f("service.key"),
		servingCert:     f("serving-kube-apiserver.crt"), servingKey: f("serving-kube-apiserver.key"),
		adminCert: f("client-admin.crt"), adminKey: f("client-admin.key"),
		controllerCert: f("client-controller.crt"), controllerKey: f("client-controller.key"),
		schedulerCert: f("client-scheduler.crt"), schedulerKey: f("client-scheduler.key"),
		kubeletClientCert: f("client-kube-apiserver.crt"), kubeletClientKey: f("client-kube-apiserver.key"),
		supervisorCert: f("client-supervisor.crt"), supervisorKey: f("client-supervisor.key"),
		authProxyCert: f("client-auth-proxy.crt"), authProxyKey: f("client-auth-proxy.key"),
	}
}

// ensurePKI creates or renews the certificates. The serving certificate
// names every address a client may use: loopback, the advertise address, the
// first service IP (the in-cluster "kubernetes" Service) and --tls-san.
func ensurePKI(cfg Config, p paths, v validated, advertise net.IP) (certFiles, error) {
	firstServiceIP, err := netutils.GetIndexedIP(v.serviceCIDR, 1)
	if err != nil {
		return certFiles{}, fmt.Errorf("finding the first IP of --service-cidr: %w", err)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback, advertise, firstServiceIP}
	names := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc." + cfg.ClusterDomain}
	if host, err := os.Hostname(); err == nil && host != "" {
		names = append(names, host)
	}
	if ip := net.ParseIP(cfg.BindAddress); ip != nil && !ip.IsUnspecified() {
		ips = append(ips, ip)
	}
	for _, san := range cfg.TLSSANs {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else if san != "" {
			names = append(names, san)
		}
	}
	if _, err := pki.Ensure(pki.Options{Dir: p.tls, ServingIPs: ips, ServingNames: names}); err != nil {
		return certFiles{}, fmt.Errorf("certificates in %s: %w", p.tls, err)
	}
	return certPaths(p.tls), nil
}

// advertiseIP is the address other nodes and the "kubernetes" Service use to
// reach this server: --advertise-address, else the address of the interface
// holding the default route.
func advertiseIP(cfg Config) (net.IP, error) {
	if cfg.AdvertiseAddress != "" {
		return net.ParseIP(cfg.AdvertiseAddress), nil
	}
	if ip := net.ParseIP(cfg.BindAddress); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		return ip, nil
	}
	ip, err := utilnet.ChooseHostInterface()
	if err != nil {
		return nil, fmt.Errorf("finding this host's address (%v); set one with --advertise-address", err)
	}
	return ip, nil
}

func loadPool(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	return pool, nil
}
