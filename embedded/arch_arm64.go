package embedded

import _ "embed" // for go:embed

// What scripts/bundle builds for arm64 (GOARCH=arm64 scripts/bundle).

//go:embed arm64/pause.tar
var pauseImage []byte
