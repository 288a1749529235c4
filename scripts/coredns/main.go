// Command coredns is CoreDNS (github.com/coredns/coredns, at the version
// go.mod pins) with only the plugins skiff's cluster DNS needs. scripts/bundle
// builds it static and packs it as the image docker.io/coredns/coredns:1.15.0
// (embedded/<arch>/images/coredns.tar), which every node imports at start, so
// cluster DNS needs no registry.
//
// It is built inside skiff's module, not with `go install
// github.com/coredns/coredns@v1.15.0`: its kubernetes plugin then compiles
// against the same client-go and API packages as skiff (one copy in the
// build cache), and upstream's main would link all of CoreDNS's ~60 plugins,
// with the AWS, Azure, Google Cloud, Datadog, etcd and geoip SDKs some of
// them bring. A plugin registers itself from its package's init; the order
// plugins run in does not depend on what is linked but on CoreDNS's fixed
// directive list (core/dnsserver/zdirectives.go), so leaving some out
// changes nothing for those that are in. `import` is no plugin: the
// Corefile parser (github.com/coredns/caddy) expands it.
//
// The plugins linked:
//
//   - what skiff's Corefile uses (internal/addons/manifests/coredns.yaml):
//     errors, health, ready, kubernetes, hosts, prometheus (package
//     metrics), forward, cache, loop, reload, loadbalance;
//   - what users commonly add in the coredns-custom ConfigMap's *.override
//     and *.server keys: log (query logging), rewrite, template (synthesised
//     answers, wildcards), file (a zone from a file), root (the folder file
//     reads zones from), k8s_external (LoadBalancer and external IPs under a
//     zone), autopath (fewer search-path round trips), acl (refuse clients
//     or names), bind (a server block on chosen addresses), debug and whoami;
//   - and, because those import them, dnstap, metadata and transfer
//     (`coredns -plugins` lists all 25).
//
// A Corefile naming another plugin is refused as CoreDNS refuses any unknown
// directive: at a reload the running configuration stays; at start the pod
// fails, and its log names the directive.
package main

import (
	"github.com/coredns/coredns/coremain"

	// The Corefile's plugins.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"

	// Plugins for coredns-custom.
	_ "github.com/coredns/coredns/plugin/acl"
	_ "github.com/coredns/coredns/plugin/autopath"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/k8s_external"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/rewrite"
	_ "github.com/coredns/coredns/plugin/root"
	_ "github.com/coredns/coredns/plugin/template"
	_ "github.com/coredns/coredns/plugin/whoami"
)

func main() {
	coremain.Run()
}
