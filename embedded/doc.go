// Package embedded holds what scripts/bundle builds and skiff ships inside
// its binary, for each architecture under <arch>/: the bundle of
// containerd, its runc shim, runc, the CNI plugins and crictl
// (bundle.tar.zst, unpacked by internal/bundle, and its sha256 in
// bundle.tar.zst.sha256), the pause image (pause.tar, imported into
// containerd at start), and the images the built-in addons run
// (images/*.tar, imported beside it; see AddonImages), and the addon
// images a release ships in its airgap tarball instead (airgap/*.tar; see
// AirgapImages). A build embeds only its own architecture's files; a
// release's skiff (-tags launched) leaves the bundle out, its launcher
// carrying it (internal/launcher), and the airgap images, its airgap
// tarball carrying them.
//
// The files are generated and not in git: scripts/build runs scripts/bundle
// before compiling, and a fresh checkout must run scripts/build (or
// scripts/bundle) once before `go build`, `go vet` or `go test` of anything
// that imports this package; without them the build stops at the
// //go:embed lines with "pattern amd64/bundle.tar.zst: no matching files
// found".
package embedded
