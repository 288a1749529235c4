//go:build launcher

// Command skiff, built with -tags launcher, is the file a release ships: a
// small program that carries the real skiff and its runtime and execs it
// (see internal/launcher). scripts/release builds it.
package main

import (
	"os"

	"github.com/skiff-k8s/skiff/internal/launcher"
)

func main() {
	os.Exit(launcher.Main())
}
