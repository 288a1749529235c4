// Package metricsserver serves the resource metrics API (metrics.k8s.io:
// `kubectl top`, HorizontalPodAutoscalers) from inside the skiff server's
// process, with metrics-server's own library (sigs.k8s.io/metrics-server
// v0.8.0, pkg/server) instead of a metrics-server pod: no image to carry
// or import, and no pod, shim and second copy of the Go runtime to keep
// in memory. Building the server (generic API server, OpenAPI, routes)
// takes ~30 ms and keeps ~1.1 MiB of heap (measured in a test); running,
// it adds a Node and a running-Pod metadata cache, two points per
// container, and a few dozen goroutines (informers, the scrape loop, the
// certificate and ConfigMap watchers).
//
// # How a request reaches it
//
// The addon manifest (internal/addons/manifests/metrics-server.yaml)
// declares the APIService v1beta1.metrics.k8s.io and a Service
// kube-system/metrics-server without a selector. The apiserver runs with
// --enable-aggregator-routing, so its aggregator sends requests to an
// endpoint of that Service, not its ClusterIP (a server without a node has
// no kube-proxy): it reads the EndpointSlices labelled
// kubernetes.io/service-name=metrics-server and takes the slice port named
// as the Service's port (k8s.io/apiserver/pkg/util/proxy, ResolveEndpoint).
// Each server keeps one such slice, metrics-server-<identity>, with its
// advertised address and its port (Config.Port: the server's HTTPS port +
// 2), owned by the Service, so that the garbage collector deletes it with
// the Service (--disable metrics-server removes the manifest, the deploy
// controller the Service). The slice appears once this server answers,
// is put back if someone edits or deletes it, and is deleted when the
// server stops, so that the aggregator stops sending requests here (a
// crashed server leaves its slice until it starts again). With several
// servers, each scrapes every node, as upstream's replicas do.
//
// The aggregator checks the serving certificate against the server CA
// (the APIService's caBundle) for the name metrics-server.kube-system.svc,
// whatever address it dials (k8s.io/kube-aggregator, remote.
// BuildTransportConfig sets that TLS ServerName): a certificate for the
// advertised address alone would fail. New issues serving-metrics-server.crt
// in the server's TLS folder for that name (and the advertised address),
// and renews it by internal/pki's rules at each start.
//
// Who may call is the apiserver's decision, as with upstream: the
// aggregator's requests carry the user in X-Remote-* headers, trusted
// because its front-proxy client certificate is signed by the
// request-header CA that the apiserver publishes in the ConfigMap
// kube-system/extension-apiserver-authentication (read at set-up, then
// watched; Start waits for it, since the apiserver writes it from a
// post-start hook that /readyz does not wait for). Every request but the
// health checks is authorized by a SubjectAccessReview, except for
// system:masters. The reviews use Config.Kubeconfig, the server's own
// credentials, so no ServiceAccount or RBAC binding is deployed for it.
//
// # Scraping
//
// Every MetricResolution (15 s by default, upstream's minimum is 10 s;
// node CPU needs two scrapes, so numbers appear about 15-20 s after this
// part is ready) each kubelet's /metrics/resource is fetched at the port
// its Node status names, at its InternalIP (then ExternalIP, then host
// name: the apiserver's own order), with the apiserver's kubelet client
// certificate, checking the kubelet's certificate against the server CA
// (which signs every kubelet's, see internal/server/nodecreds.go and
// internal/join). Config.Dial is the tunnel server's Dial: a node behind
// NAT is reached through the tunnel its agent opened, as the apiserver
// reaches it for logs and exec.
//
// # Lifecycle
//
// Start listens at once (a port in use is a start-up error) and builds
// and runs the server in the background; Ready waits for /healthz, which
// answers once the Node and Pod caches are filled, and not for /readyz,
// which needs two scrapes and, on a server without nodes, never comes.
// Stop withdraws the endpoint, then stops the server. Stopping early is
// safe: RunUntil returns when stopped before its caches fill, and the
// server runs no post-start hook (the only ones a generic server adds
// here are turned off, below), so nothing can end the process with
// klog.Fatal as the kube-apiserver's hooks do when cancelled.
//
// # OpenAPI names
//
// metrics-server v0.8.0's generated OpenAPI definitions predate the model
// names Kubernetes 1.35 gave its API types; the generic server of
// k8s.io/apiserver v0.37 looks types up by those names and refused to
// install the API group. openAPIDefinitions renames them (see there).
//
// # State this process shares, and what was done about it
//
// Upstream's command is not used: Options.Validate calls
// logsapi.ValidateAndApply (it would reconfigure the process's logging),
// and Options.ServerConfig builds a ComponentGlobalsRegistry (its own, so
// harmless, but useless here) and a self-signed loopback certificate.
// The configuration is built here instead (build.go), and what it reaches
// was checked in k8s.io/apiserver v0.37.2 and metrics-server v0.8.0:
//
//   - Feature gates: read (the generic server takes the process's
//     DefaultFeatureGate), never set.
//   - klog: metrics-server logs through the process's klog; no flag is
//     parsed. Profiling is off (EnableProfiling), which also leaves out
//     /debug/flags/v, a handler that sets the whole process's verbosity;
//     the apiserver serves both already.
//   - The max-in-flight filter keeps its watermarks in a package variable
//     and reports them into the kube-apiserver's own gauges
//     (apiserver_current_inflight_requests) every second from a post-start
//     hook: both are off here (no limit; the aggregator, this server's
//     only client, is limited by the apiserver's priority and fairness).
//     The storage object-count tracker, which only priority and fairness
//     reads, is off too (it kept a goroutine and a hook).
//   - The legacy Prometheus registry: metrics-server's /metrics serves it
//     (so the apiserver's and kubelet's metrics, behind the same
//     authorization as the apiserver's /metrics) followed by its own
//     registry. Its package-level metrics are registered into a new
//     registry at each build, so one metrics-server per process.
//     apiserver endpoint metrics are registered once per process
//     (sync.Once) and count this server's requests too: metrics.k8s.io
//     requests appear twice in apiserver_request_total, once as the
//     aggregator proxied them and once as served here. Importing
//     metrics-server's pkg/server registers client-go's REST client
//     metrics (k8s.io/component-base/metrics/prometheus/restclient), which
//     skiff did not before: every client in the process now records
//     rest_client_* metrics, as upstream's binaries do.
//   - systemd: the generic server sends READY=1 to $NOTIFY_SOCKET and
//     unsets it when it starts serving; the kube-apiserver did so first,
//     so here it is a no-op.
//   - json-patch's copy limit (a package variable the generic server
//     lowers to its setting): the same 3 MiB as the kube-apiserver's.
//   - If its listener fails while not stopping, the generic server's serve
//     loop panics, as the kube-apiserver's does; TLS handshake errors are
//     written to stderr.
package metricsserver
