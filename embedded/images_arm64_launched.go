//go:build arm64 && launched

package embedded

import "embed"

// A release's skiff carries the addon images with plain layers: see
// AddonImages.
//
//go:embed arm64/plain/images/*.tar arm64/plain/images/*.tar.sha256
var addonImages embed.FS

const addonImagesDir = "arm64/plain"
