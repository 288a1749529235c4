package embedded

import (
	"io/fs"
	"runtime"
)

// PauseImage is the pod sandbox image, named PauseImageName and
// PauseImageAlias: an OCI image layout tarball with a docker manifest.json,
// which containerd's import and docker load accept. scripts/bundle builds
// it for each architecture into <arch>/pause.tar.
var PauseImage = pauseImage

// PauseImageName is the name skiff imports PauseImage under and configures
// as containerd's sandbox image.
const PauseImageName = "registry.k8s.io/pause:3.10"

// PauseImageAlias is the same image's second name: the default sandbox image
// of containerd v2.4 and the pause image of Kubernetes v1.37 (kubeadm, the
// e2e and conformance suites), so that what asks for it finds it without a
// registry.
const PauseImageAlias = "registry.k8s.io/pause:3.10.2"

// AddonImages holds the images the built-in addons run, each built from its
// Go module by scripts/bundle into <arch>/images/, and seen here without
// the <arch>/: images/<name>.tar, an image tarball (OCI
// layout with a docker manifest.json) whose layer is zstd-compressed, and
// images/<name>.tar.sha256, its sha256 in hex, computed when it was built.
// Every node imports them at start, pinned (internal/images), so the
// addons run with no registry; the sum lets a node that already has them
// skip them without reading them. A zstd layer, rather than a zstd
// tarball of a plain layer (the same size), is what containerd keeps and
// unpacks: its import wrote 55 MB less and took 0.55 s instead of 1.0 s
// for CoreDNS on a 2-core VM. A release's skiff (-tags launched) carries
// the same images with plain layers instead (<arch>/plain/images/): the
// launcher's archive compresses skiff as a whole with a long window, which
// finds what CoreDNS's code shares with skiff's only in a plain layer (3.6
// MB less to download, measured at zstd -19), for ~44 MB more written once,
// when a node first imports it.
var AddonImages = subFolder(addonImages, addonImagesDir)

// archFolder is the architecture's folder of f: the build embeds only its
// own architecture's files.
func archFolder(f fs.FS) fs.FS {
	return subFolder(f, runtime.GOARCH)
}

func subFolder(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // only for a bad name, and the names here are good ones
	}
	return sub
}

// CoreDNSImageName is the cluster DNS image in AddonImages
// (images/coredns.tar), named as CoreDNS publishes it, so that the
// coredns addon's manifest runs the same name online and offline. Its tag
// is the CoreDNS version go.mod pins (scripts/bundle checks).
const CoreDNSImageName = "docker.io/coredns/coredns:1.15.0"

// TraefikImageName is the ingress controller's image in AirgapImages
// (airgap/traefik.tar), named as Traefik publishes it, so that the
// traefik addon's chart runs the same version online without the image
// and offline with it. Its tag is the Traefik version scripts/bundle
// builds, and the traefik chart's appVersion (scripts/bundle checks).
const TraefikImageName = "docker.io/library/traefik:v3.7.13"
