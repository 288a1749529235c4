package kubelet

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/pflag"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/kubernetes/cmd/kubelet/app"
	"k8s.io/kubernetes/cmd/kubelet/app/options"
	kubeletvalidation "k8s.io/kubernetes/pkg/kubelet/apis/config/validation"
	"k8s.io/kubernetes/pkg/kubelet/eviction"
	"k8s.io/kubernetes/pkg/kubelet/kubeletconfig/configfiles"
	utilfs "k8s.io/kubernetes/pkg/util/filesystem"

	"github.com/skiff-k8s/skiff/internal/component"
)

// Kubelet is the node agent, run in-process.
type Kubelet struct {
	Config Config

	cancel context.CancelFunc
	done   chan struct{}
	failed chan error
}

var _ component.Component = (*Kubelet)(nil)
var _ component.Failer = (*Kubelet)(nil)

func (k *Kubelet) Name() string { return "kubelet" }

func (k *Kubelet) Start(ctx context.Context) error {
	path, err := k.Config.configFile()
	if err != nil {
		return err
	}
	server, err := k.server(ctx, path)
	if err != nil {
		return err
	}
	deps, err := app.UnsecuredDependencies(ctx, server, utilfeature.DefaultFeatureGate)
	if err != nil {
		return fmt.Errorf("building dependencies: %w", err)
	}
	kctx, cancel := context.WithCancel(ctx)
	k.cancel, k.done, k.failed = cancel, make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(k.done)
		err := app.Run(kctx, server, deps, utilfeature.DefaultFeatureGate)
		if kctx.Err() == nil {
			if err == nil {
				err = fmt.Errorf("returned without being asked to stop")
			}
			k.failed <- err
		}
	}()
	return nil
}

// featureGates are skiff's defaults for the kubelet's feature gates; a gate
// the user sets with --kubelet-arg=feature-gates=... wins.
//
// PodAndContainerStatsFromCRI: pod and container stats come from containerd,
// which keeps them anyway, instead of from cAdvisor watching every
// container's cgroups in the kubelet (a goroutine, and two minutes of
// samples, per container: ~4 MB with 50 pods). cAdvisor still reports the
// node itself. Beta since 1.37.
var featureGates = map[string]bool{"PodAndContainerStatsFromCRI": true}

// server loads the config file as the kubelet's own --config does and
// applies the command-line flags over it.
func (k *Kubelet) server(ctx context.Context, configFile string) (*options.KubeletServer, error) {
	flags := options.NewKubeletFlags()
	loader, err := configfiles.NewFsLoader(&utilfs.DefaultFs{}, configFile)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", configFile, err)
	}
	kc, err := loader.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", configFile, err)
	}
	if kc.EvictionHard == nil {
		kc.EvictionHard = eviction.DefaultEvictionHard
	}
	fs := pflag.NewFlagSet("kubelet", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags.AddFlags(fs)
	options.AddKubeletConfigFlags(fs, kc)
	if err := fs.Parse(k.Config.flags(configFile)); err != nil {
		return nil, fmt.Errorf("--kubelet-arg: %w", err)
	}
	if kc.FeatureGates == nil {
		kc.FeatureGates = map[string]bool{}
	}
	for gate, on := range featureGates {
		if _, set := kc.FeatureGates[gate]; !set {
			kc.FeatureGates[gate] = on
		}
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(kc.FeatureGates); err != nil {
		return nil, fmt.Errorf("kubelet feature gates: %w", err)
	}
	if err := options.ValidateKubeletFlags(flags); err != nil {
		return nil, fmt.Errorf("invalid kubelet flags: %w", err)
	}
	if err := kubeletvalidation.ValidateKubeletConfiguration(kc, utilfeature.DefaultFeatureGate); err != nil {
		return nil, fmt.Errorf("invalid kubelet configuration (%s): %w", filepath.Base(configFile), err)
	}
	return &options.KubeletServer{KubeletFlags: *flags, KubeletConfiguration: *kc}, nil
}

// Ready is immediate: the kubelet registers its node on its own, and the
// agent waits for the node to be Ready as a part of its own.
func (k *Kubelet) Ready(context.Context) error { return nil }

func (k *Kubelet) Failed() <-chan error { return k.failed }

// Stop ends the kubelet; the containers it started keep running in
// containerd, and a restarted kubelet adopts them.
func (k *Kubelet) Stop(ctx context.Context) error {
	if k.cancel == nil {
		return nil
	}
	k.cancel()
	select {
	case <-k.done:
	case <-ctx.Done():
		// The kubelet's Run does not wait for all of its goroutines; what is
		// left ends with the process.
	}
	return nil
}
