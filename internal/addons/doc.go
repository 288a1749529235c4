// Package addons holds the built-in addons a fresh server deploys — cluster
// DNS, local storage, LoadBalancer Services, the metrics API, the Traefik
// ingress — and writes their manifests into the manifests folder, where the
// deploy controller applies them like any file a user drops there (k3s's
// model), and the Helm charts their HelmCharts install into the static
// charts folder (WriteCharts).
//
// The manifests are written anew at every start from what the binary
// carries, so upgrading skiff upgrades them; a <name>.yaml.skip file beside
// one leaves it to the user. --disable NAME removes an addon's file, and the
// deploy controller then removes what it deployed. Addons that run inside
// skiff's own processes (ServiceLB, the storage provisioner, the DNS
// helpers, the Helm controller) are switched with the same names.
package addons
