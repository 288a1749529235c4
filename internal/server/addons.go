package server

import (
	"encoding/base64"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-k8s/skiff/embedded"
	"github.com/skiff-k8s/skiff/internal/addons"
	"github.com/skiff-k8s/skiff/internal/clusterdns"
	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/deploy"
	"github.com/skiff-k8s/skiff/internal/overlay"
	"github.com/skiff-k8s/skiff/internal/servicelb"
)

// writeAddons renders the built-in addons into the manifests folder (and
// removes the disabled ones' files) before the deploy controller first
// looks at it.
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
	}
	if err := addons.Write(p.manifests, values, v.disabled); err != nil {
		return fmt.Errorf("built-in addons: %w", err)
	}
	return nil
}

// addonParts are the parts that deploy and serve the addons: the deploy
// controller (in the background: the node need not wait for it; await
// says when its first pass is done) and the addons that run in this
// process.
func addonParts(cfg Config, v validated, p paths, client kubernetes.Interface) (start []component.Component, await component.Component, err error) {
	rest, err := clientcmd.BuildConfigFromFlags("", supervisorKubeconfig(p))
	if err != nil {
		return nil, nil, fmt.Errorf("loading %s: %w", supervisorKubeconfig(p), err)
	}
	dc, err := deploy.New(deploy.Config{Dir: p.manifests, RESTConfig: rest})
	if err != nil {
		return nil, nil, err
	}
	startDeploy, await := component.Background("addons", dc)
	start = []component.Component{startDeploy}

	if v.disabled.Has(addons.ServiceLB) {
		// Hands the Services skiff served back to whatever serves them now.
		start = append(start, servicelb.NewCleanup(client))
	} else {
		lb, err := servicelb.New(servicelb.Config{Client: client, ReservedPorts: reservedPorts(cfg)})
		if err != nil {
			return nil, nil, err
		}
		start = append(start, lb)
	}
	if !v.disabled.Has(addons.CoreDNS) {
		dns, err := clusterdns.New(clusterdns.Config{Client: client})
		if err != nil {
			return nil, nil, err
		}
		start = append(start, dns)
	}
	return start, await, nil
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
