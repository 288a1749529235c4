package embedded

import "embed"

// Bundle is the zstd tarball of runc, the CNI plugins and crictl, written by
// internal/bundle.Pack.
//
//go:embed bundle.tar.zst
var Bundle []byte

// BundleSum is Bundle's sha256 in hex (and a newline), computed when it was
// packed.
//
//go:embed bundle.tar.zst.sha256
var BundleSum string

// PauseImage is the pod sandbox image, named PauseImageName and
// PauseImageAlias: an OCI image layout tarball with a docker manifest.json,
// which containerd's import and docker load accept.
//
//go:embed pause.tar
var PauseImage []byte

// PauseImageName is the name skiff imports PauseImage under and configures
// as containerd's sandbox image.
const PauseImageName = "registry.k8s.io/pause:3.10"

// PauseImageAlias is the same image's second name: the default sandbox image
// of containerd v2.4 and the pause image of Kubernetes v1.37 (kubeadm, the
// e2e and conformance suites), so that what asks for it finds it without a
// registry.
const PauseImageAlias = "registry.k8s.io/pause:3.10.2"

// AddonImages holds the images the built-in addons run, each built from its
// Go module by scripts/bundle: images/<name>.tar, an image tarball (OCI
// layout with a docker manifest.json) whose layer is zstd-compressed, and
// images/<name>.tar.sha256, its sha256 in hex, computed when it was built.
// Every node imports them at start, pinned (internal/images), so the
// addons run with no registry; the sum lets a node that already has them
// skip them without reading them. A zstd layer, rather than a zstd
// tarball of a plain layer (the same size), is what containerd keeps and
// unpacks: its import wrote 55 MB less and took 0.55 s instead of 1.0 s
// for CoreDNS on a 2-core VM.
//
//go:embed images/*.tar images/*.tar.sha256
var AddonImages embed.FS

// CoreDNSImageName is the cluster DNS image in AddonImages
// (images/coredns.tar), named as CoreDNS publishes it, so that the
// coredns addon's manifest runs the same name online and offline. Its tag
// is the CoreDNS version go.mod pins (scripts/bundle checks).
const CoreDNSImageName = "docker.io/coredns/coredns:1.15.0"
