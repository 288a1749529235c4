package agent

import (
	"net"
	"path/filepath"

	"github.com/skiff-k8s/skiff/internal/component"
)

// Config is what the agent role needs to know. Its credentials are files in
// Paths().TLS, put there by whoever admitted the node (the server itself for
// its own node).
type Config struct {
	DataDir       string
	NodeName      string
	NodeIP        net.IP
	NodeLabels    []string
	NodeTaints    []string
	ServerURL     string // the supervisor, https://host:6443
	ClusterCIDR   string
	ServiceCIDR   string
	ClusterDNS    net.IP
	ClusterDomain string
	// FlannelBackend is the pod network across nodes: vxlan, host-gw or
	// none (no CNI configuration is written; the user brings one).
	FlannelBackend string

	KubeletArgs      []string
	KubeProxyArgs    []string
	DisableKubeProxy bool
	// PrivateRegistry is the registries.yaml with mirrors and credentials.
	PrivateRegistry string
	// ResolvConf is the resolv.conf pods with dnsPolicy Default get (cluster
	// DNS forwards to its servers); empty chooses the host's, see
	// kubelet.Config.
	ResolvConf string
	// LocalStorage runs the local-path provisioner for this node's claims,
	// with volumes under LocalStoragePath (empty: <data-dir>/storage).
	LocalStorage     bool
	LocalStoragePath string
	// BeforeKubelet, if set, must be ready before the kubelet starts: on a
	// server, the controller-manager's controllers (see
	// control.ControllerManager.ControllersBuilt).
	BeforeKubelet component.Component
}

// ContainerdSocket is where skiff's containerd listens.
const ContainerdSocket = "/run/skiff/containerd/containerd.sock"

// KubeletRootDir is the kubelet's state; CSI drivers expect this path.
const KubeletRootDir = "/var/lib/kubelet"

// Paths are the agent's files under <data-dir>/agent.
type Paths struct {
	Agent, TLS, Etc, Images, CNIConf, IPAM string
	ServerCA, ClientCA                     string
	KubeletClientCert, KubeletClientKey    string
	KubeletServingCert, KubeletServingKey  string
	KubeProxyCert, KubeProxyKey            string
	KubeletKubeconfig, KubeProxyKubeconfig string
}

// Paths lays out the agent's files.
func (c Config) Paths() Paths {
	agent := filepath.Join(c.DataDir, "agent")
	tls := filepath.Join(agent, "tls")
	etc := filepath.Join(agent, "etc")
	return Paths{
		Agent: agent, TLS: tls, Etc: etc,
		Images:              filepath.Join(agent, "images"),
		CNIConf:             filepath.Join(etc, "cni", "net.d"),
		IPAM:                filepath.Join(agent, "cni", "networks"),
		ServerCA:            filepath.Join(tls, "server-ca.crt"),
		ClientCA:            filepath.Join(tls, "client-ca.crt"),
		KubeletClientCert:   filepath.Join(tls, "kubelet-client.crt"),
		KubeletClientKey:    filepath.Join(tls, "kubelet-client.key"),
		KubeletServingCert:  filepath.Join(tls, "kubelet-serving.crt"),
		KubeletServingKey:   filepath.Join(tls, "kubelet-serving.key"),
		KubeProxyCert:       filepath.Join(tls, "kube-proxy.crt"),
		KubeProxyKey:        filepath.Join(tls, "kube-proxy.key"),
		KubeletKubeconfig:   filepath.Join(agent, "kubelet.kubeconfig"),
		KubeProxyKubeconfig: filepath.Join(agent, "kube-proxy.kubeconfig"),
	}
}
