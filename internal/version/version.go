// Package version tells which skiff and which Kubernetes this binary is.
// scripts/build sets the values at link time, together with the upstream
// version variables that the apiserver, kubectl and Helm read.
package version

import "runtime"

// Set by -ldflags -X at build time. Containerd is the version of the
// containerd skiff ships (scripts/bundle builds the one go.mod pins).
var (
	Version    = "dev"
	Kubernetes = "v1.37.2"
	Containerd = "unknown"
	Commit     = "unknown"
)

// String is the one-line version report.
func String() string {
	return "skiff " + Version + " (kubernetes " + Kubernetes + ", containerd " + Containerd +
		", " + runtime.Version() + ", commit " + Commit + ")"
}
