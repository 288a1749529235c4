package metricsserver

import (
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	utilcompatibility "k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/metrics-server/pkg/api"
	"sigs.k8s.io/metrics-server/pkg/scraper/client"
	msserver "sigs.k8s.io/metrics-server/pkg/server"
)

// userAgent names this part's requests in the apiserver's logs and audit.
const userAgent = "skiff-metrics-server"

// maxInFlightHook is the generic server's post-start hook that resets the
// max-in-flight filter's watermarks every second. Those watermarks are a
// package variable of k8s.io/apiserver and the gauges it feeds are the
// kube-apiserver's own (apiserver_current_inflight_requests), so in this
// process the hook would overwrite the apiserver's figures with ours.
const maxInFlightHook = "max-in-flight-filter"

// serverConfig is metrics-server's configuration, built the way its
// options build it (cmd/metrics-server/app/options, Options.ServerConfig)
// minus what would reconfigure this process: no flags, no
// logsapi.ValidateAndApply (it would re-apply the process's logging), no
// ComponentGlobalsRegistry, no self-signed certificates.
func serverConfig(c Config, ln net.Listener, certFile, keyFile string) (*msserver.Config, error) {
	restCfg, err := restConfig(c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	gc, err := genericConfig(c, ln, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if err := delegateAuth(gc, c.Kubeconfig); err != nil {
		return nil, err
	}
	return &msserver.Config{
		Apiserver:        gc,
		Rest:             restCfg,
		Kubelet:          kubeletConfig(c),
		MetricResolution: c.MetricResolution,
		ScrapeTimeout:    c.ScrapeTimeout,
	}, nil
}

// restConfig is the client of the Node and Pod informers: the kubeconfig's,
// speaking protobuf as upstream's does.
func restConfig(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("metrics-server: loading %s: %w", kubeconfig, err)
	}
	cfg.UserAgent = userAgent
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	if err := rest.SetKubernetesDefaults(cfg); err != nil {
		return nil, fmt.Errorf("metrics-server: client defaults: %w", err)
	}
	return cfg, nil
}

// genericConfig is the generic API server that serves metrics.k8s.io on
// ln with the serving certificate, without its authentication and
// authorization (delegateAuth adds those).
func genericConfig(c Config, ln net.Listener, certFile, keyFile string) (*genericapiserver.Config, error) {
	gc := genericapiserver.NewConfig(api.Codecs)

	serving := genericoptions.NewSecureServingOptions()
	serving.Listener = ln
	serving.ServerCert.CertKey = genericoptions.CertKey{CertFile: certFile, KeyFile: keyFile}
	if err := serving.ApplyTo(&gc.SecureServing); err != nil {
		return nil, fmt.Errorf("metrics-server: serving on %s: %w", ln.Addr(), err)
	}
	// The generic server insists on a loopback client, which only
	// post-start hooks would use, and this server has none that does.
	// Upstream's is authenticated by a token made for it and a
	// self-signed certificate (two RSA keys at every start); this one
	// carries no credentials.
	gc.LoopbackClientConfig = &rest.Config{
		Host:            "https://" + probeAddress(ln.Addr()),
		TLSClientConfig: rest.TLSClientConfig{CAData: c.ServerCA.CertPEM, ServerName: serviceHost},
		UserAgent:       userAgent,
	}
	// Discovery documents name the address clients reach it at.
	gc.ExternalAddress = net.JoinHostPort(c.AdvertiseIP.String(), strconv.Itoa(c.Port))
	gc.EffectiveVersion = utilcompatibility.DefaultBuildEffectiveVersion()

	// pprof and the /debug/flags/v handler (which sets the whole process's
	// klog verbosity) are served by the apiserver already.
	gc.EnableProfiling = false
	// No max-in-flight limit: its filter keeps its counts in package
	// variables shared with the kube-apiserver (see maxInFlightHook). The
	// only client is the aggregator, which the apiserver's own priority
	// and fairness already limits.
	gc.MaxRequestsInFlight, gc.MaxMutatingRequestsInFlight = 0, 0
	gc.DisabledPostStartHooks.Insert(maxInFlightHook)
	// Object counts feed priority and fairness, which this server does
	// not run; the tracker would only keep a goroutine and a hook.
	gc.StorageObjectCountTracker = nil

	// As upstream: kubectl explain and the aggregated OpenAPI document
	// know the metrics types.
	namer := openapinamer.NewDefinitionNamer(api.Scheme)
	gc.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(openAPIDefinitions, namer)
	gc.OpenAPIConfig.Info.Title = "Kubernetes metrics-server"
	gc.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(openAPIDefinitions, namer)
	gc.OpenAPIV3Config.Info.Title = "Kubernetes metrics-server"
	return gc, nil
}

// delegateAuth makes the apiserver decide who may call: requests from the
// aggregator carry the user in X-Remote-* headers, trusted because the
// aggregator's front-proxy client certificate is signed by the
// request-header CA published in kube-system/extension-apiserver-
// authentication (read once here, then watched); bearer tokens go to a
// TokenReview, and every request but the health checks to a
// SubjectAccessReview (system:masters is let through without one). This is
// upstream metrics-server's set-up, with the kubeconfig's credentials
// instead of a service account's.
func delegateAuth(gc *genericapiserver.Config, kubeconfig string) error {
	authn := genericoptions.NewDelegatingAuthenticationOptions()
	authn.RemoteKubeConfigFile = kubeconfig
	if err := authn.ApplyTo(&gc.Authentication, gc.SecureServing, nil); err != nil {
		return fmt.Errorf("metrics-server: delegated authentication: %w", err)
	}
	authz := genericoptions.NewDelegatingAuthorizationOptions()
	authz.RemoteKubeConfigFile = kubeconfig
	if err := authz.ApplyTo(&gc.Authorization); err != nil {
		return fmt.Errorf("metrics-server: delegated authorization: %w", err)
	}
	return nil
}

// kubeletConfig is how the kubelets are scraped: HTTPS to the port each
// node's status names, with the apiserver's kubelet client certificate,
// checking the kubelet's serving certificate against the server CA, and
// dialling through Config.Dial. A node's addresses are tried in the order
// of the apiserver's own --kubelet-preferred-address-types, so that
// metrics-server reaches every kubelet the apiserver reaches, by an
// address the kubelet's serving certificate names (upstream prefers the
// host name, which DNS may not know).
func kubeletConfig(c Config) *client.KubeletClientConfig {
	return &client.KubeletClientConfig{
		Scheme:              "https",
		DefaultPort:         kubeletPort,
		UseNodeStatusPort:   true,
		AddressTypePriority: []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName},
		Client: rest.Config{
			UserAgent: userAgent,
			Dial:      c.Dial,
			TLSClientConfig: rest.TLSClientConfig{
				CAData:   c.ServerCA.CertPEM,
				CertFile: c.KubeletClientCert,
				KeyFile:  c.KubeletClientKey,
			},
		},
	}
}
