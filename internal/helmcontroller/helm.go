package helmcontroller

import (
	"fmt"

	"helm.sh/helm/v4/pkg/action"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// helmClients is what every Helm operation shares: the API's discovery,
// fetched once and kept in memory (Helm's CLI would read it again for each
// operation, which costs more than a small chart's install), and the
// mapper over it, which refreshes itself when a kind is missing (a chart
// that brings CRDs).
type helmClients struct {
	rest       *rest.Config
	kubeconfig string
	discovery  discovery.CachedDiscoveryInterface
	mapper     meta.RESTMapper
}

func newHelmClients(cfg *rest.Config, kubeconfig string) (*helmClients, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("helm controller: %w", err)
	}
	cached := memory.NewMemCacheClient(dc)
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
	return &helmClients{rest: cfg, kubeconfig: kubeconfig, discovery: cached, mapper: mapper}, nil
}

// configuration is a Helm action configuration for releases in namespace,
// stored as Secrets there, as the helm CLI stores them.
func (h *helmClients) configuration(namespace string) (*action.Configuration, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(helmLogger()))
	if err := cfg.Init(&namespaceGetter{h: h, namespace: namespace}, namespace, "secret"); err != nil {
		return nil, fmt.Errorf("helm configuration for namespace %s: %w", namespace, err)
	}
	return cfg, nil
}

// namespaceGetter is genericclioptions.RESTClientGetter over the shared
// clients, defaulting to one namespace.
type namespaceGetter struct {
	h         *helmClients
	namespace string
}

var _ genericclioptions.RESTClientGetter = (*namespaceGetter)(nil)

func (g *namespaceGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.h.rest), nil }

func (g *namespaceGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.h.discovery, nil
}

func (g *namespaceGetter) ToRESTMapper() (meta.RESTMapper, error) { return g.h.mapper, nil }

func (g *namespaceGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: g.h.kubeconfig},
		&clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}
