package agent

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/join"
	"github.com/skiff-k8s/skiff/internal/loadbalancer"
	"github.com/skiff-k8s/skiff/internal/tunnel"
)

// kubeletPort is the kubelet's HTTPS port, the one the servers reach
// through the tunnel.
const kubeletPort = 10250

// JoinedParts is a joined node at a glance: the container runtime, which
// gets ready meanwhile, the load balancer in front of the servers
// (everything on the node reaches them through it), the tunnel that lets
// the servers reach this node's kubelet from behind NAT, then the node's
// own parts.
func JoinedParts(cfg Config, jc JoinConfig, c *join.Client) (parts []component.Component, helperPIDs func() []int, err error) {
	p := cfg.Paths()
	lb, err := loadbalancer.New(loadbalancer.Config{
		Server:    jc.ServerURL,
		Port:      jc.LBPort,
		StateFile: filepath.Join(p.Etc, "servers.json"),
	})
	if err != nil {
		return nil, nil, err
	}
	supervisorPort, err := portOf(jc.ServerURL)
	if err != nil {
		return nil, nil, err
	}
	node, err := Parts(cfg)
	if err != nil {
		return nil, nil, err
	}
	proxyClient, err := clientFor(p.KubeProxyKubeconfig)
	if err != nil {
		return nil, nil, err
	}
	nodeClient, err := clientFor(p.KubeletKubeconfig)
	if err != nil {
		return nil, nil, err
	}
	tunnelTLS := c.TLSConfig()
	tun := tunnel.NewClient(tunnel.ClientConfig{
		URL:    lb.URL() + join.PathConnect,
		TLS:    tunnelTLS,
		Header: c.Header(),
		Allow:  tunnel.NodeAllow([]net.IP{cfg.NodeIP}, kubeletPort, (&podCIDRs{client: nodeClient, node: cfg.NodeName}).get),
	})
	parts = []component.Component{
		node.Runtime,
		lb,
		&serverList{lb: lb, client: proxyClient, port: supervisorPort},
		tun,
	}
	return append(parts, node.Parts...), node.HelperPIDs, nil
}

func portOf(serverURL string) (int, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return 0, fmt.Errorf("--server %q: %w", serverURL, err)
	}
	if u.Port() == "" {
		return 443, nil
	}
	return strconv.Atoi(u.Port())
}

// serverList keeps the load balancer's list of servers in step with the
// kubernetes Service's endpoints, so that the node follows servers that
// join or leave the cluster.
type serverList struct {
	lb     *loadbalancer.LoadBalancer
	client kubernetes.Interface
	port   int
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *serverList) Name() string { return "server-list" }

func (s *serverList) Start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.lb.Watch(ctx, s.client, s.port)
	}()
	return nil
}

// Ready at once: the --server address alone is enough to start with.
func (s *serverList) Ready(context.Context) error { return nil }

func (s *serverList) Stop(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	select {
	case <-s.done:
	case <-ctx.Done():
	}
	return nil
}

// podCIDRs reads the node's pod CIDRs for the tunnel's dial rule. A node
// learns them only after it registered, so it asks until it has them, and
// then keeps them: the controller-manager never changes a node's CIDRs.
type podCIDRs struct {
	client kubernetes.Interface
	node   string

	mu    sync.Mutex
	cidrs []*net.IPNet
}

func (p *podCIDRs) get() []*net.IPNet {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cidrs != nil {
		return p.cidrs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := p.client.CoreV1().Nodes().Get(ctx, p.node, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	var cidrs []*net.IPNet
	for _, s := range n.Spec.PodCIDRs {
		if _, c, err := net.ParseCIDR(s); err == nil {
			cidrs = append(cidrs, c)
		}
	}
	if len(cidrs) > 0 {
		p.cidrs = cidrs
	}
	return cidrs
}
