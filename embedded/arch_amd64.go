package embedded

import _ "embed" // for go:embed

// What scripts/bundle builds for amd64 (GOARCH=amd64 scripts/bundle).

//go:embed amd64/pause.tar
var pauseImage []byte
