package server

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/skiff-k8s/skiff/internal/addons"
	"github.com/skiff-k8s/skiff/internal/agent"
	"github.com/skiff-k8s/skiff/internal/component"
)

// localAgent is the server's own node: the agent role in this process, with
// credentials the server issues itself instead of through a join.
func localAgent(cfg Config, v validated, c certFiles, ca signers, advertise net.IP, supervisorKubeconfig string, controllersBuilt component.Component) (agent.Node, error) {
	name, err := nodeName(cfg)
	if err != nil {
		return agent.Node{}, err
	}
	ip := advertise
	if cfg.NodeIP != "" {
		ip = net.ParseIP(cfg.NodeIP)
	}
	ac := agent.Config{
		DataDir:          cfg.DataDir,
		NodeName:         name,
		NodeIP:           ip,
		NodeLabels:       cfg.NodeLabels,
		NodeTaints:       cfg.NodeTaints,
		ServerURL:        fmt.Sprintf("https://%s", net.JoinHostPort(loopbackOr(cfg.BindAddress), strconv.Itoa(cfg.HTTPSPort))),
		ClusterCIDR:      cfg.ClusterCIDR,
		ServiceCIDR:      cfg.ServiceCIDR,
		ClusterDNS:       v.clusterDNS,
		ClusterDomain:    cfg.ClusterDomain,
		KubeletArgs:      cfg.KubeletArgs,
		KubeProxyArgs:    cfg.KubeProxyArgs,
		DisableKubeProxy: cfg.DisableKubeProxy,
		PrivateRegistry:  cfg.PrivateRegistry,
		ResolvConf:       cfg.ResolvConf,
		LocalStorage:     !v.disabled.Has(addons.LocalStorage),
		LocalStoragePath: cfg.DefaultLocalStoragePath,
		FlannelBackend:   cfg.FlannelBackend,
		BeforeKubelet:    controllersBuilt,
	}
	if err := issueLocalNodeCredentials(c, ca, ac.Paths(), name, ip); err != nil {
		return agent.Node{}, fmt.Errorf("node credentials: %w", err)
	}
	password, err := agent.NodePassword(cfg.DataDir)
	if err != nil {
		return agent.Node{}, err
	}
	node, err := agent.Parts(ac)
	if err != nil {
		return agent.Node{}, err
	}
	// The server's node holds its name like any joined node, so that an
	// agent started with the same name is refused.
	claim := &nodeNameClaim{supervisor: supervisorKubeconfig, node: name, password: password}
	node.Parts = append([]component.Component{claim}, node.Parts...)
	// After the node's parts: the last of them waits for the node Ready.
	node.Parts = append(node.Parts, &nodeRole{supervisor: supervisorKubeconfig, node: name})
	return node, nil
}

// nodeName is the server's node's name (--node-name, or the host's), and
// its name among the servers when it runs no node.
func nodeName(cfg Config) (string, error) {
	if cfg.NodeName != "" {
		return cfg.NodeName, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("finding the host name (%v); set --node-name", err)
	}
	return strings.ToLower(host), nil
}

// loopbackOr is where this process reaches its own supervisor: loopback,
// unless the supervisor listens on one address only.
func loopbackOr(bind string) string {
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
		return ip.String()
	}
	return "127.0.0.1"
}
