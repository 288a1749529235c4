//go:build launched

package embedded

// Launched: this skiff was built for a release, whose launcher carries the
// runtime and unpacks it beside skiff (internal/launcher), so the binary
// does not carry it a second time.
const Launched = true

// Bundle and BundleSum are empty: see Launched.
var (
	Bundle    []byte
	BundleSum string
)
