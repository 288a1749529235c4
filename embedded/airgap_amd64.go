//go:build !launched

package embedded

import "embed"

//go:embed amd64/airgap/*.tar amd64/airgap/*.tar.sha256
var airgapImages embed.FS
