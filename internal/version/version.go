// Package version tells which skiff and which Kubernetes this binary is.
// scripts/build sets the values at link time, together with the upstream
// version variables that the apiserver, kubectl and Helm read.
package version

// Set by -ldflags -X at build time.
var (
	Version    = "dev"
	Kubernetes = "v1.37.2"
	Commit     = "unknown"
)

// String is the one-line version report.
func String() string {
	return "skiff " + Version + " (kubernetes " + Kubernetes + ", commit " + Commit + ")"
}
