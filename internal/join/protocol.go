package join

// Paths of the join endpoints on the supervisor's port.
const (
	PathConfig          = "/v1-skiff/config"
	PathNodeCerts       = "/v1-skiff/node-certs"
	PathConnect         = "/v1-skiff/connect"
	PathServerBootstrap = "/v1-skiff/server-bootstrap"
)

// Headers a node names itself with on every /v1-skiff request.
const (
	HeaderNodeName     = "Skiff-Node-Name"
	HeaderNodePassword = "Skiff-Node-Password"
)

// ClusterInfo is what every node must agree with the servers on.
type ClusterInfo struct {
	ClusterCIDR    string `json:"clusterCIDR"`
	ServiceCIDR    string `json:"serviceCIDR"`
	ClusterDNS     string `json:"clusterDNS"`
	ClusterDomain  string `json:"clusterDomain"`
	FlannelBackend string `json:"flannelBackend"`
	// LocalStorage says whether nodes provision local-path volumes (the
	// local-storage addon is not disabled), and LocalStoragePath where,
	// when --default-local-storage-path set it for every node.
	LocalStorage     bool   `json:"localStorage"`
	LocalStoragePath string `json:"localStoragePath,omitempty"`
}

// CertRequest asks for a node's certificates. The CSRs carry only public
// keys: the server decides every name in the certificates.
type CertRequest struct {
	Hostname string   `json:"hostname"`
	IPs      []string `json:"ips"`
	// PEM certificate requests.
	KubeletClient  []byte `json:"kubeletClient"`
	KubeletServing []byte `json:"kubeletServing"`
	KubeProxy      []byte `json:"kubeProxy"`
}

// CertResponse is a node's certificates (PEM) and the CAs to trust.
type CertResponse struct {
	ServerCA       []byte `json:"serverCA"`
	ClientCA       []byte `json:"clientCA"`
	KubeletClient  []byte `json:"kubeletClient"`
	KubeletServing []byte `json:"kubeletServing"`
	KubeProxy      []byte `json:"kubeProxy"`
}
