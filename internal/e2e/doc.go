// Package e2e holds the end-to-end tests of skiff: they start the real
// binary (bin/skiff, or $SKIFF_BIN) as root, in short temp data dirs, on free
// ports, and talk to it only the way users do: over port P with client-go,
// `skiff kubectl`, plain HTTPS, files on disk, signals and exit codes.
//
// Every test is named TestE2E... and is skipped only under -short.
//
//	scripts/build && go test ./internal/e2e/ -run TestE2E -count=1 -parallel 3 -v
package e2e
