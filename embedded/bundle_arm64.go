//go:build !launched

package embedded

import _ "embed"

//go:embed arm64/bundle.tar.zst
var bundleArchive []byte

//go:embed arm64/bundle.tar.zst.sha256
var bundleArchiveSum string
