package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/checkconfig"
	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/containerd"
	"github.com/skiff-k8s/skiff/internal/join"
	"github.com/skiff-k8s/skiff/internal/kubelet"
	"github.com/skiff-k8s/skiff/internal/memory"
	"github.com/skiff-k8s/skiff/internal/sdnotify"
	"github.com/skiff-k8s/skiff/internal/token"
)

// JoinConfig is what `skiff agent` is told: where the cluster is, how to
// prove it may join, and how this node differs from the others. Everything
// the nodes must agree on (CIDRs, DNS, the pod network) comes from the
// server.
type JoinConfig struct {
	DataDir    string
	ServerURL  string
	Token      string
	NodeName   string
	WithNodeID bool
	NodeIP     string
	NodeLabels []string
	NodeTaints []string

	KubeletArgs     []string
	KubeProxyArgs   []string
	PrivateRegistry string
	// ResolvConf is --resolv-conf: the resolv.conf pods with dnsPolicy
	// Default get, cluster DNS's upstream among them; empty chooses one.
	ResolvConf string
	// LBPort is the loopback port of the client load balancer that the
	// kubelet, kube-proxy and the tunnel reach the servers through.
	LBPort int
}

// retryEvery is how often an agent tries again to reach a server that is
// not answering yet: agents are often started before their server.
const retryEvery = 2 * time.Second

// Run joins the cluster at cfg.ServerURL and runs the node until ctx ends
// or a part fails.
func Run(ctx context.Context, cfg JoinConfig) error {
	if cfg.ServerURL == "" {
		return errors.New("--server is required: the URL of a server, such as https://192.168.1.10:6443 (or set SKIFF_URL)")
	}
	if cfg.Token == "" {
		return errors.New("--token is required: the server's token or agent token, or one from `skiff token create` (or set SKIFF_TOKEN)")
	}
	if u, err := url.Parse(cfg.ServerURL); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--server %q is not an https:// URL; use the form https://<server>:6443", cfg.ServerURL)
	}
	tok, err := token.Parse(cfg.Token)
	if err != nil {
		return fmt.Errorf("--token: %w", err)
	}
	if cfg.LBPort < 1 || cfg.LBPort > 65535 {
		return fmt.Errorf("--lb-server-port %d is out of range; use 1-65535", cfg.LBPort)
	}
	nodeIP, err := chooseNodeIP(cfg.NodeIP)
	if err != nil {
		return err
	}
	if cfg.ResolvConf != "" {
		if err := kubelet.CheckResolvConf(cfg.ResolvConf); err != nil {
			return fmt.Errorf("--resolv-conf: %w", err)
		}
	}
	if _, err := containerd.LoadRegistries(cfg.PrivateRegistry); err != nil {
		return fmt.Errorf("--private-registry: %w", err)
	}
	// The host can run a node: a missing iptables or cgroup controller
	// stops the agent here, in one line, instead of halfway through.
	if err := checkconfig.Start(checkconfig.Options{
		DataDir: cfg.DataDir, Node: true, KubeProxy: true,
		KubeletArgs: cfg.KubeletArgs, KubeProxyArgs: cfg.KubeProxyArgs,
	}); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s is not writable: %w; choose another with --data-dir", cfg.DataDir, err)
	}
	name, err := NodeName(cfg.DataDir, cfg.NodeName, cfg.WithNodeID)
	if err != nil {
		return err
	}
	password, err := NodePassword(cfg.DataDir)
	if err != nil {
		return err
	}

	var info join.ClusterInfo
	var client *join.Client
	err = retry(ctx, func() error {
		var err error
		if client, err = join.Connect(ctx, cfg.ServerURL, tok, join.Identity{Name: name, Password: password}); err != nil {
			return err
		}
		if info, err = client.Config(ctx); err != nil {
			return err
		}
		hostname, _ := os.Hostname()
		return fetchCredentials(ctx, client, Config{DataDir: cfg.DataDir}.Paths(), strings.ToLower(hostname), []net.IP{nodeIP})
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // asked to stop while waiting for the server
		}
		return err
	}
	klog.InfoS("Joined the cluster", "server", cfg.ServerURL, "node", name, "nodeIP", nodeIP)

	ac, err := nodeConfig(cfg, info, name, nodeIP)
	if err != nil {
		return err
	}
	parts, helpers, err := JoinedParts(ac, cfg, client)
	if err != nil {
		return err
	}
	return component.Run(ctx, parts, func() {
		memory.Govern(ctx, memory.Defaults, helpers)
		klog.InfoS("skiff agent is ready", "node", name, "server", cfg.ServerURL)
		sdnotify.Tell("node " + name + " Ready")
	})
}

// nodeConfig is the node as the server told it to be, plus what is this
// node's own.
func nodeConfig(cfg JoinConfig, info join.ClusterInfo, name string, nodeIP net.IP) (Config, error) {
	dns := net.ParseIP(info.ClusterDNS)
	if dns == nil {
		return Config{}, fmt.Errorf("the server sent cluster DNS %q, which is not an IP address", info.ClusterDNS)
	}
	return Config{
		DataDir:          cfg.DataDir,
		NodeName:         name,
		NodeIP:           nodeIP,
		NodeLabels:       cfg.NodeLabels,
		NodeTaints:       cfg.NodeTaints,
		ServerURL:        "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.LBPort)),
		ClusterCIDR:      info.ClusterCIDR,
		ServiceCIDR:      info.ServiceCIDR,
		ClusterDNS:       dns,
		ClusterDomain:    info.ClusterDomain,
		FlannelBackend:   info.FlannelBackend,
		KubeletArgs:      cfg.KubeletArgs,
		KubeProxyArgs:    cfg.KubeProxyArgs,
		PrivateRegistry:  cfg.PrivateRegistry,
		ResolvConf:       cfg.ResolvConf,
		LocalStorage:     info.LocalStorage,
		LocalStoragePath: info.LocalStoragePath,
	}, nil
}

// retry runs f until it succeeds, the server refuses for good, or ctx ends.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil || join.IsRefused(err) {
			return err
		}
		klog.InfoS("Waiting for the server", "reason", err.Error(), "retryIn", retryEvery)
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up joining: %w", err)
		case <-time.After(retryEvery):
		}
	}
}

func chooseNodeIP(given string) (net.IP, error) {
	if given != "" {
		ip := net.ParseIP(given)
		if ip == nil {
			return nil, fmt.Errorf("--node-ip %q is not an IP address", given)
		}
		return ip, nil
	}
	ip, err := utilnet.ChooseHostInterface()
	if err != nil {
		return nil, fmt.Errorf("finding this host's address (%v); set one with --node-ip", err)
	}
	return ip, nil
}
