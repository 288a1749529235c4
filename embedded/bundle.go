//go:build !launched

package embedded

// Launched is true in a release's skiff, which its launcher unpacked with
// the runtime beside it (internal/launcher), and false in a skiff that
// carries the runtime itself.
const Launched = false

// Bundle is the zstd tarball of containerd, its runc shim, runc, the CNI
// plugins and crictl, written by internal/bundle/pack into
// <arch>/bundle.tar.zst.
var Bundle = bundleArchive

// BundleSum is Bundle's sha256 in hex (and a newline), computed when it was
// packed.
var BundleSum = bundleArchiveSum
