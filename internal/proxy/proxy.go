// Package proxy runs the upstream kube-proxy, in iptables mode, as a
// goroutine of skiff.
package proxy

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/kubernetes/cmd/kube-proxy/app"

	"github.com/skiff-k8s/skiff/internal/component"
)

// Config is what the agent role tells kube-proxy.
type Config struct {
	NodeName    string
	ClusterCIDR string
	Kubeconfig  string
	// ExtraArgs are --kube-proxy-arg name=value items; they win.
	ExtraArgs []string
}

// Proxy is kube-proxy.
type Proxy struct {
	Config Config

	cancel context.CancelFunc
	failed chan error
}

var _ component.Component = (*Proxy)(nil)
var _ component.Failer = (*Proxy)(nil)

func (p *Proxy) Name() string { return "kube-proxy" }

func (p *Proxy) Start(ctx context.Context) error {
	opts := app.NewOptions()
	fs := pflag.NewFlagSet("kube-proxy", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts.AddFlags(fs)
	if err := fs.Parse(p.flags()); err != nil {
		return fmt.Errorf("--kube-proxy-arg: %w", err)
	}
	if err := opts.Complete(fs); err != nil {
		return fmt.Errorf("completing options: %w", err)
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("invalid options: %w", err)
	}
	pctx, cancel := context.WithCancel(ctx)
	p.cancel, p.failed = cancel, make(chan error, 1)
	go func() {
		err := opts.Run(pctx)
		if pctx.Err() == nil {
			if err == nil {
				err = fmt.Errorf("returned without being asked to stop")
			}
			p.failed <- err
		}
	}()
	return nil
}

// flags: health and metrics on loopback only, and conntrack sysctls left as
// the host has them (0 = don't touch), because inside a container — a node
// of a multi-node test, an LXC box — they are read-only.
//
// The rules follow a change within 100 ms instead of upstream's 1 s
// minimum between syncs: at start the burst of Services and endpoints
// used up kube-proxy's two quick syncs, and the cluster DNS Service's
// first endpoint waited ~1 s more to work (exec → a pod's first DNS
// answer 9.45 s → 7.96 s on 2 cores). A partial sync of a small node's
// rules costs milliseconds; --kube-proxy-arg iptables-min-sync-period
// restores upstream's.
func (p *Proxy) flags() []string {
	args := []string{
		"--kubeconfig=" + p.Config.Kubeconfig,
		"--hostname-override=" + p.Config.NodeName,
		"--cluster-cidr=" + p.Config.ClusterCIDR,
		"--proxy-mode=iptables",
		"--iptables-min-sync-period=100ms",
		"--healthz-bind-address=127.0.0.1:10256",
		"--metrics-bind-address=127.0.0.1:10249",
		"--conntrack-max-per-core=0",
		"--conntrack-tcp-timeout-established=0",
		"--conntrack-tcp-timeout-close-wait=0",
	}
	for _, a := range p.Config.ExtraArgs {
		args = append(args, "--"+strings.TrimLeft(a, "-"))
	}
	return args
}

// Ready is immediate: kube-proxy syncs its rules as Services appear.
func (p *Proxy) Ready(context.Context) error { return nil }

func (p *Proxy) Failed() <-chan error { return p.failed }

// Stop cancels kube-proxy. Its run loop does not return on cancellation, so
// there is nothing to wait for; the rules it wrote stay, so Services keep
// working while skiff restarts.
func (p *Proxy) Stop(context.Context) error {
	if p.cancel != nil {
		p.cancel()
	}
	return nil
}
