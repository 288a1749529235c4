//go:build arm64 && !launched

package embedded

import "embed"

//go:embed arm64/images/*.tar arm64/images/*.tar.sha256
var addonImages embed.FS

const addonImagesDir = "arm64"
