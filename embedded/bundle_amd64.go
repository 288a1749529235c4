//go:build !launched

package embedded

import _ "embed"

//go:embed amd64/bundle.tar.zst
var bundleArchive []byte

//go:embed amd64/bundle.tar.zst.sha256
var bundleArchiveSum string
