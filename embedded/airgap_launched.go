//go:build launched

package embedded

import "io/fs"

// AirgapImages is nil in a release's skiff: its airgap images tarball
// carries those images (see the other build's AirgapImages).
var AirgapImages fs.FS
