//go:build amd64 && !launched

package embedded

import "embed"

//go:embed amd64/images/*.tar amd64/images/*.tar.sha256
var addonImages embed.FS

const addonImagesDir = "amd64"
