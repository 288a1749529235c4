package addons

import (
	"fmt"
	"slices"
	"strings"
)

// The built-in addons, by the names --disable takes (k3s's names).
const (
	CoreDNS       = "coredns"
	LocalStorage  = "local-storage"
	ServiceLB     = "servicelb"
	MetricsServer = "metrics-server"
	// Traefik is the default ingress controller, deployed by a HelmChart
	// (its chart carried by the binary, see WriteCharts).
	Traefik = "traefik"
	// HelmController reconciles HelmChart objects in the server's process;
	// without it no chart is installed, so disabling it disables Traefik.
	HelmController = "helm-controller"
)

// Names lists every built-in addon, in the order their manifests are
// written.
var Names = []string{CoreDNS, LocalStorage, ServiceLB, MetricsServer, Traefik, HelmController}

// implied are the addons that cannot run without another: disabling the
// key disables them too (k3s: no Helm controller, no Traefik).
var implied = map[string][]string{HelmController: {Traefik}}

// Disabled is the set of addons --disable names.
type Disabled map[string]bool

// Has reports whether the addon is disabled.
func (d Disabled) Has(name string) bool { return d[name] }

// ParseDisabled reads --disable's items; each may hold several names
// separated by commas, as k3s accepts. An unknown name is refused with the
// list of valid ones.
func ParseDisabled(items []string) (Disabled, error) {
	d := Disabled{}
	for _, item := range items {
		for _, name := range strings.Split(item, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if !slices.Contains(Names, name) {
				return nil, fmt.Errorf("--disable %q is not a built-in addon; valid names are %s", name, strings.Join(Names, ", "))
			}
			d[name] = true
			for _, also := range implied[name] {
				d[also] = true
			}
		}
	}
	return d, nil
}
