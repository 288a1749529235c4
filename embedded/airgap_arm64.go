//go:build !launched

package embedded

import "embed"

//go:embed arm64/airgap/*.tar arm64/airgap/*.tar.sha256
var airgapImages embed.FS
