//go:build amd64 && launched

package embedded

import "embed"

// A release's skiff carries the addon images with plain layers: see
// AddonImages.
//
//go:embed amd64/plain/images/*.tar amd64/plain/images/*.tar.sha256
var addonImages embed.FS

const addonImagesDir = "amd64/plain"
