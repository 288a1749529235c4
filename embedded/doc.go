// Package embedded holds what scripts/bundle builds and skiff ships inside
// its binary: the bundle of runc, the CNI plugins and crictl
// (bundle.tar.zst, unpacked by internal/bundle, and its sha256 in
// bundle.tar.zst.sha256), the pause image (pause.tar, imported into
// containerd at start), and the images the built-in addons run
// (images/*.tar, imported beside it; see AddonImages).
//
// The files are generated and not in git: scripts/build runs scripts/bundle
// before compiling, and a fresh checkout must run scripts/build (or
// scripts/bundle) once before `go build`, `go vet` or `go test` of anything
// that imports this package; without them the build stops at the
// //go:embed lines with "pattern bundle.tar.zst: no matching files found".
package embedded
