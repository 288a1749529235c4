package metricsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/skiff-k8s/skiff/internal/pki"
)

// The objects of the addon manifest (internal/addons/manifests/
// metrics-server.yaml) this package works with.
const (
	// Namespace holds the Service and the EndpointSlices.
	Namespace = "kube-system"
	// ServiceName is the Service the APIService names; the aggregator
	// checks the serving certificate against ServiceName.Namespace.svc.
	ServiceName = "metrics-server"
	// PortName names the Service's port and the EndpointSlices' port: the
	// aggregator picks the slice port whose name is the Service port's.
	PortName = "https"
)

// Labels of the EndpointSlices this package keeps.
const (
	// ManagedBy is the value of endpointslice.kubernetes.io/managed-by:
	// the EndpointSlice controller leaves slices of other managers alone.
	ManagedBy = "skiff"
)

const (
	// DefaultMetricResolution is how often the kubelets are scraped when
	// Config.MetricResolution is zero. Node CPU needs two scrapes, so
	// `kubectl top` prints numbers about two resolutions after start:
	// upstream's 60 s would take two minutes, the issue asks for 90 s.
	DefaultMetricResolution = 15 * time.Second
	// DefaultScrapeTimeout bounds one kubelet request when
	// Config.ScrapeTimeout is zero (upstream's default).
	DefaultScrapeTimeout = 10 * time.Second
	// MinMetricResolution is upstream's lower bound: the kubelet's
	// resource metrics are not fresher than that.
	MinMetricResolution = 10 * time.Second

	// kubeletPort is used for a node whose status names no port.
	kubeletPort = 10250
)

// Config configures the in-process metrics server. The zero values of
// the optional fields are documented on each.
type Config struct {
	// Kubeconfig has full rights on the apiserver: it lists Nodes and
	// running Pods, checks the callers of the metrics API (TokenReview,
	// SubjectAccessReview), reads the front proxy's CA from the ConfigMap
	// kube-system/extension-apiserver-authentication, and writes this
	// server's EndpointSlice. On a server: <data-dir>/server/cred/
	// supervisor.kubeconfig. Required.
	Kubeconfig string
	// ServerCA signs the serving certificate, so that the APIService can
	// carry the server CA as caBundle instead of insecureSkipTLSVerify,
	// and verifies the kubelets' serving certificates, which it signed
	// too (on join and for the server's own node). Required.
	ServerCA *pki.CA
	// CertDir is where the serving certificate and key are kept
	// (serving-metrics-server.crt/.key): <data-dir>/server/tls. Required.
	CertDir string
	// KubeletClientCert and KubeletClientKey authenticate the scrapes to
	// the kubelets: the apiserver's kubelet client certificate
	// (client-kube-apiserver.crt, group system:masters), which every
	// kubelet's webhook authorizer admits. Required.
	KubeletClientCert, KubeletClientKey string

	// BindAddress is the address to listen on; empty means every address
	// (0.0.0.0), like the supervisor.
	BindAddress string
	// Port is the port to listen on, the EndpointSlice's port. skiff uses
	// the HTTPS port + 2 (the apiserver's loopback port is + 1), so that
	// servers sharing a host never collide. Required.
	Port int
	// AdvertiseIP is where the aggregator (and kube-proxy, for the
	// Service's ClusterIP) reaches this server: the EndpointSlice's
	// address, and an IP SAN of the serving certificate. Required.
	AdvertiseIP net.IP
	// ClusterDomain adds metrics-server.kube-system.svc.<domain> to the
	// certificate's names; empty leaves it out.
	ClusterDomain string
	// Identity names this server's EndpointSlice
	// (metrics-server-<identity>): its node name, or its host name when it
	// runs no node. Each server of a cluster needs its own. Required.
	Identity string

	// Dial opens the connections to the kubelets. On a server it is the
	// tunnel server's Dial (internal/tunnel), which reaches a node behind
	// NAT through the tunnel its agent opened and dials every other
	// address directly. Nil dials directly.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// MetricResolution is how often the kubelets are scraped; zero means
	// DefaultMetricResolution. At least MinMetricResolution.
	MetricResolution time.Duration
	// ScrapeTimeout bounds one kubelet request; zero means
	// DefaultScrapeTimeout. It must leave a tenth of MetricResolution
	// free (upstream's rule: a scrape cycle may not overrun the next).
	ScrapeTimeout time.Duration
}

// withDefaults fills in the optional fields' defaults and checks every
// field, so that nothing fails later for a reason known now.
func (c Config) withDefaults() (Config, error) {
	if c.MetricResolution == 0 {
		c.MetricResolution = DefaultMetricResolution
	}
	if c.ScrapeTimeout == 0 {
		c.ScrapeTimeout = DefaultScrapeTimeout
	}
	switch {
	case c.Kubeconfig == "":
		return c, errors.New("metrics-server: no kubeconfig; pass the supervisor's in Config.Kubeconfig")
	case c.ServerCA == nil:
		return c, errors.New("metrics-server: no server CA to sign the serving certificate and check the kubelets'; pass it in Config.ServerCA")
	case c.CertDir == "":
		return c, errors.New("metrics-server: no certificate folder; pass <data-dir>/server/tls in Config.CertDir")
	case c.KubeletClientCert == "" || c.KubeletClientKey == "":
		return c, errors.New("metrics-server: no kubelet client certificate; pass the apiserver's in Config.KubeletClientCert and KubeletClientKey")
	case c.Port < 1 || c.Port > 65535:
		return c, fmt.Errorf("metrics-server: port %d is out of range 1-65535", c.Port)
	case c.AdvertiseIP == nil || c.AdvertiseIP.IsUnspecified():
		return c, errors.New("metrics-server: no address to advertise in the EndpointSlice; pass the server's in Config.AdvertiseIP")
	case c.Identity == "":
		return c, errors.New("metrics-server: no identity to name this server's EndpointSlice; pass the node or host name in Config.Identity")
	case c.MetricResolution < MinMetricResolution:
		return c, fmt.Errorf("metrics-server: metric resolution %v is below %v", c.MetricResolution, MinMetricResolution)
	case c.ScrapeTimeout <= 0 || c.ScrapeTimeout > c.MetricResolution*9/10:
		return c, fmt.Errorf("metrics-server: scrape timeout %v must be positive and at most nine tenths of the metric resolution %v", c.ScrapeTimeout, c.MetricResolution)
	}
	if c.BindAddress != "" && net.ParseIP(c.BindAddress) == nil {
		return c, fmt.Errorf("metrics-server: bind address %q is not an IP address", c.BindAddress)
	}
	return c, nil
}

// listenAddress is host:port to listen on.
func (c Config) listenAddress() string {
	host := c.BindAddress
	if host == "" {
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, fmt.Sprint(c.Port))
}

// probeAddress is where this process reaches its own listener: the bind
// address, or loopback when it listens on every address.
func probeAddress(listening net.Addr) string {
	addr, ok := listening.(*net.TCPAddr)
	if !ok {
		return listening.String()
	}
	ip := addr.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(addr.Port))
}
