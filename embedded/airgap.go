//go:build !launched

package embedded

// AirgapImages holds the images of default addons that a release does not
// carry in its binary but in its airgap images tarball
// (skiff-airgap-images-<arch>.tar.zst, see scripts/release), laid out as
// AddonImages is (airgap/<name>.tar and its .sha256), built by
// scripts/bundle into <arch>/airgap/. A skiff built without -tags
// launched (scripts/build's) carries them, so that it runs its default
// addons offline and its tests exercise them; a release's has none (nil),
// its users put the tarball into <data-dir>/agent/images/ or let the
// node pull the image by its upstream name. Nodes import them after the
// images the kubelet starts with, without holding it up
// (internal/images, Config.DeferredImages).
var AirgapImages = archFolder(airgapImages)
