package embedded

import "embed"

// What scripts/bundle builds for amd64 (GOARCH=amd64 scripts/bundle).

//go:embed amd64/pause.tar
var pauseImage []byte

//go:embed amd64/images/*.tar amd64/images/*.tar.sha256
var addonImages embed.FS
