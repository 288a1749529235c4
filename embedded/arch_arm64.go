package embedded

import "embed"

// What scripts/bundle builds for arm64 (GOARCH=arm64 scripts/bundle).

//go:embed arm64/pause.tar
var pauseImage []byte

//go:embed arm64/images/*.tar arm64/images/*.tar.sha256
var addonImages embed.FS
