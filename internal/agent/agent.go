package agent

import (
	"fmt"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-k8s/skiff/embedded"
	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/containerd"
	"github.com/skiff-k8s/skiff/internal/images"
	"github.com/skiff-k8s/skiff/internal/kubeconfig"
	"github.com/skiff-k8s/skiff/internal/kubelet"
	"github.com/skiff-k8s/skiff/internal/localstorage"
	"github.com/skiff-k8s/skiff/internal/network"
	"github.com/skiff-k8s/skiff/internal/overlay"
	"github.com/skiff-k8s/skiff/internal/proxy"
)

// Node is a node's parts in two: Runtime (containerd and its images) needs
// nothing from the cluster, so a role starts it first and it gets ready in
// the background while the role joins or its control plane starts; Parts
// need the API, and the first of them that needs the runtime waits for it.
type Node struct {
	Runtime component.Component
	Parts   []component.Component
	// HelperPIDs lists the node's long-lived helper processes (containerd)
	// for the memory governor.
	HelperPIDs func() []int
}

// Parts prepares the node's files — the runtime bundle, the kubeconfigs —
// and returns the node role at a glance: each part starts once the one
// before it is ready, and they stop in reverse order.
func Parts(cfg Config) (Node, error) {
	p := cfg.Paths()
	binDir, err := runtimeBin(cfg.DataDir)
	if err != nil {
		return Node{}, err
	}
	if err := writeKubeconfigs(cfg, p); err != nil {
		return Node{}, err
	}
	nodeClient := func() (kubernetes.Interface, error) { return clientFor(p.KubeletKubeconfig) }
	client, err := nodeClient()
	if err != nil {
		return Node{}, err
	}

	runtime := containerd.New(containerd.Config{
		DataDir:        cfg.DataDir,
		BinDir:         binDir,
		CNIConfDir:     p.CNIConf,
		SandboxImage:   embedded.PauseImageName,
		RegistriesFile: cfg.PrivateRegistry,
	})
	cgroupDriver := runtime.Config().CgroupDriver
	resolvConf, err := kubelet.ResolvConf(cfg.ResolvConf, p.Etc)
	if err != nil {
		return Node{}, err
	}
	podNetwork, err := podNetworkParts(cfg, p, client)
	if err != nil {
		return Node{}, err
	}

	importer := images.New(images.Config{
		DataDir:        cfg.DataDir,
		ImagesDir:      p.Images,
		PauseImage:     embedded.PauseImage,
		PauseImageName: embedded.PauseImageName,
		AddonImages:    embedded.AddonImages,
		// Traefik's, in a build that carries it.
		DeferredImages: embedded.AirgapImages,
	})
	startRuntime, runtimeReady := component.Background("container-runtime", runtime, importer)
	// The deferred images are imported while the kubelet starts: after
	// the control plane's start, with which their import (1.5 s of CPU
	// for Traefik's) would compete, and before the node is Ready, after
	// which their pods are scheduled.
	parts := append(podNetwork, runtimeReady, importer.Deferred())
	if cfg.BeforeKubelet != nil {
		parts = append(parts, cfg.BeforeKubelet)
	}
	parts = append(parts,
		&kubelet.Kubelet{Config: kubelet.Config{
			NodeName:                 cfg.NodeName,
			NodeIP:                   cfg.NodeIP,
			NodeLabels:               cfg.NodeLabels,
			NodeTaints:               cfg.NodeTaints,
			ClusterDNS:               cfg.ClusterDNS,
			ClusterDomain:            cfg.ClusterDomain,
			CgroupDriver:             cgroupDriver,
			ContainerRuntimeEndpoint: "unix://" + runtime.Config().Socket,
			Kubeconfig:               p.KubeletKubeconfig,
			ClientCAFile:             p.ClientCA,
			TLSCertFile:              p.KubeletServingCert,
			TLSKeyFile:               p.KubeletServingKey,
			RootDir:                  KubeletRootDir,
			ConfigDir:                p.Etc,
			ResolvConf:               resolvConf,
			ExtraArgs:                cfg.KubeletArgs,
		}},
	)
	if !cfg.DisableKubeProxy {
		parts = append(parts, &proxy.Proxy{Config: proxy.Config{
			NodeName:    cfg.NodeName,
			ClusterCIDR: cfg.ClusterCIDR,
			Kubeconfig:  p.KubeProxyKubeconfig,
			ExtraArgs:   cfg.KubeProxyArgs,
		}})
	}
	parts = append(parts, &nodeReady{name: cfg.NodeName, client: nodeClient})
	if cfg.LocalStorage {
		storage, err := localStorage(cfg, client)
		if err != nil {
			return Node{}, err
		}
		parts = append(parts, storage)
	}
	helpers := func() []int {
		if pid := runtime.PID(); pid > 0 {
			return []int{pid}
		}
		return nil
	}
	return Node{Runtime: startRuntime, Parts: parts, HelperPIDs: helpers}, nil
}

// localStorage provisions local-path volumes for the claims scheduled to
// this node, in this node's own folder: each node makes and removes its own
// directories.
func localStorage(cfg Config, client kubernetes.Interface) (component.Component, error) {
	path := cfg.LocalStoragePath
	if path == "" {
		path = filepath.Join(cfg.DataDir, "storage")
	}
	p, err := localstorage.New(localstorage.Config{Client: client, NodeName: cfg.NodeName, Path: path})
	if err != nil {
		return nil, fmt.Errorf("local storage: %w", err)
	}
	return p, nil
}

// podNetworkParts are the pod network: the overlay that carries pod
// traffic between nodes, and the CNI bridge on this node, sized to fit
// inside the overlay. With backend "none" there is neither: the user's CNI
// takes their place.
func podNetworkParts(cfg Config, p Paths, client kubernetes.Interface) ([]component.Component, error) {
	if cfg.FlannelBackend == "none" {
		return nil, nil
	}
	ov, err := overlay.New(overlay.Config{
		Backend:     cfg.FlannelBackend,
		NodeName:    cfg.NodeName,
		NodeIP:      cfg.NodeIP,
		ClusterCIDR: cfg.ClusterCIDR,
		Client:      client,
	})
	if err != nil {
		return nil, fmt.Errorf("pod network: %w", err)
	}
	bridge, err := network.New(network.Config{
		ClusterCIDR: cfg.ClusterCIDR,
		NodeName:    cfg.NodeName,
		CNIConfDir:  p.CNIConf,
		IPAMDataDir: p.IPAM,
		MTU:         ov.MTU(),
		Client:      client,
	})
	if err != nil {
		return nil, fmt.Errorf("pod network: %w", err)
	}
	return []component.Component{ov, bridge}, nil
}

// writeKubeconfigs points the kubelet and kube-proxy at the server with the
// node's credentials.
func writeKubeconfigs(cfg Config, p Paths) error {
	for path, pair := range map[string][2]string{
		p.KubeletKubeconfig:   {p.KubeletClientCert, p.KubeletClientKey},
		p.KubeProxyKubeconfig: {p.KubeProxyCert, p.KubeProxyKey},
	} {
		spec := kubeconfig.Spec{Server: cfg.ServerURL, CAFile: p.ServerCA, CertFile: pair[0], KeyFile: pair[1]}
		if err := kubeconfig.Write(path, spec, 0o600); err != nil {
			return fmt.Errorf("writing node credentials: %w", err)
		}
	}
	return nil
}

func clientFor(kubeconfigPath string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", kubeconfigPath, err)
	}
	return kubernetes.NewForConfig(cfg)
}
