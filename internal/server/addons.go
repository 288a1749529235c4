package server

import (
	"encoding/base64"
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-k8s/skiff/embedded"
	"github.com/skiff-k8s/skiff/internal/addons"
	"github.com/skiff-k8s/skiff/internal/clusterdns"
	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/deploy"
	"github.com/skiff-k8s/skiff/internal/helmcontroller"
	"github.com/skiff-k8s/skiff/internal/metricsserver"
	"github.com/skiff-k8s/skiff/internal/overlay"
	"github.com/skiff-k8s/skiff/internal/servicelb"
	"github.com/skiff-k8s/skiff/internal/tunnel"
)

// writeAddons renders the built-in addons into the manifests folder (and
// removes the disabled ones' files), and the charts their HelmCharts
// install into the static charts folder, before the deploy controller
// first looks at it.
func writeAddons(cfg Config, v validated, p paths, caPEM []byte) error {
	values := addons.Values{
		ClusterDNS:       v.clusterDNS.String(),
		ClusterDomain:    cfg.ClusterDomain,
		ClusterCIDR:      cfg.ClusterCIDR,
		ServiceCIDR:      cfg.ServiceCIDR,
		CoreDNSImage:     embedded.CoreDNSImageName,
		LocalStoragePath: cfg.DefaultLocalStoragePath,
		ServerCABase64:   base64.StdEncoding.EncodeToString(caPEM),
		MetricsPort:      cfg.metricsPort(),
		TraefikImage:     addons.ImageRef(embedded.TraefikImageName),
	}
	// The charts first: the HelmCharts in the manifests point at them.
	if err := addons.WriteCharts(p.staticCharts, v.disabled); err != nil {
		return fmt.Errorf("built-in addons: %w", err)
	}
	if err := addons.Write(p.manifests, values, v.disabled); err != nil {
		return fmt.Errorf("built-in addons: %w", err)
	}
	return nil
}

// addonDeps are what the addons that run in this process need from the
// rest of the role.
type addonDeps struct {
	client    kubernetes.Interface // full rights, loopback
	certs     certFiles
	ca        signers
	advertise net.IP
	tunnels   *tunnel.Server // dials nodes, through their tunnel if they opened one
	// leaderElect is set when other servers may share the datastore;
	// identity names this server among them.
	leaderElect bool
	identity    string
}

// addonParts are the parts that deploy and serve the addons. The deploy
// controller and the metrics API start in the background (the node need
// not wait for them; await says when the manifests were applied once and
// the metrics API serves); ServiceLB and the DNS helper follow the API in
// the role's own line.
func addonParts(cfg Config, v validated, p paths, d addonDeps) (start []component.Component, await component.Component, err error) {
	rest, err := clientcmd.BuildConfigFromFlags("", supervisorKubeconfig(p))
	if err != nil {
		return nil, nil, fmt.Errorf("loading %s: %w", supervisorKubeconfig(p), err)
	}
	dc, err := deploy.New(deploy.Config{Dir: p.manifests, RESTConfig: rest})
	if err != nil {
		return nil, nil, err
	}
	// The helm.cattle.io kinds are served before the deploy controller
	// applies a manifest that holds a HelmChart (Traefik's).
	crds, err := helmcontroller.NewCRDs(rest)
	if err != nil {
		return nil, nil, err
	}
	hc, err := helmcontroller.New(helmcontroller.Config{
		Kubeconfig: supervisorKubeconfig(p),
		StaticDir:  p.staticCharts,
		CacheDir:   p.helmCache,
		OnlyRemove: v.disabled.Has(addons.HelmController),
		// As the scheduler's and controller-manager's: only where
		// another server may run too.
		LeaderElect: d.leaderElect,
		Identity:    d.identity,
	})
	if err != nil {
		return nil, nil, err
	}
	background := []component.Component{crds, dc, hc}
	if !v.disabled.Has(addons.MetricsServer) {
		// After the deploy controller: its Service exists by then, and
		// the EndpointSlice it keeps points there once it serves.
		ms, err := metricsServer(cfg, p, d)
		if err != nil {
			return nil, nil, err
		}
		background = append(background, ms)
	}
	startAddons, await := component.Background("addons", background...)
	start = []component.Component{startAddons}

	if v.disabled.Has(addons.ServiceLB) {
		// Hands the Services skiff served back to whatever serves them now.
		start = append(start, servicelb.NewCleanup(d.client))
	} else {
		lb, err := servicelb.New(servicelb.Config{Client: d.client, ReservedPorts: reservedPorts(cfg)})
		if err != nil {
			return nil, nil, err
		}
		start = append(start, lb)
	}
	if !v.disabled.Has(addons.CoreDNS) {
		dns, err := clusterdns.New(clusterdns.Config{Client: d.client})
		if err != nil {
			return nil, nil, err
		}
		start = append(start, dns)
	}
	return start, await, nil
}

// metricsServer is the metrics API (metrics.k8s.io), served by this
// process: metrics-server's own code, without a pod of its own.
func metricsServer(cfg Config, p paths, d addonDeps) (component.Component, error) {
	identity, err := nodeName(cfg)
	if err != nil {
		return nil, err
	}
	return metricsserver.New(metricsserver.Config{
		Kubeconfig:        supervisorKubeconfig(p),
		ServerCA:          d.ca.server,
		CertDir:           p.tls,
		KubeletClientCert: d.certs.kubeletClientCert,
		KubeletClientKey:  d.certs.kubeletClientKey,
		BindAddress:       cfg.BindAddress,
		Port:              cfg.metricsPort(),
		AdvertiseIP:       d.advertise,
		ClusterDomain:     cfg.ClusterDomain,
		Identity:          identity,
		Dial:              d.tunnels.Dial,
	})
}

// reservedPorts are the ports skiff itself listens on at every node's
// address, which no LoadBalancer Service may take: kube-proxy's rules
// would send their traffic to the Service's pods instead. Every server
// must reserve the same ones (servicelb.Config).
func reservedPorts(cfg Config) []servicelb.Port {
	ports := []servicelb.Port{
		{Protocol: corev1.ProtocolTCP, Port: int32(cfg.HTTPSPort), What: "skiff's HTTPS port (--https-listen-port)"},
		{Protocol: corev1.ProtocolTCP, Port: 10250, What: "the kubelet"},
		{Protocol: corev1.ProtocolTCP, Port: int32(cfg.metricsPort()), What: "skiff's metrics API"},
	}
	if cfg.FlannelBackend == "" || cfg.FlannelBackend == "vxlan" {
		ports = append(ports, servicelb.Port{Protocol: corev1.ProtocolUDP, Port: overlay.Port, What: "the VXLAN pod network"})
	}
	return ports
}

func supervisorKubeconfig(p paths) string { return p.cred + "/supervisor.kubeconfig" }
