package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiff-k8s/skiff/embedded"
	"github.com/skiff-k8s/skiff/internal/bundle"
)

// runtimeBin is the folder of containerd, its shim, runc and the CNI
// plugins, with skiff's own links (crictl, ctr, kubectl) beside them.
func runtimeBin(dataDir string) (string, error) {
	bin, err := runtimeFolder(dataDir)
	if err != nil {
		return "", fmt.Errorf("unpacking the runtime bundle: %w", err)
	}
	return bin, bundle.Link(bin)
}

// runtimeFolder unpacks the runtime this binary carries; a release's skiff
// carries none, its launcher having unpacked the runtime beside it.
func runtimeFolder(dataDir string) (string, error) {
	if embedded.Launched {
		exe, err := os.Executable()
		if err == nil {
			exe, err = filepath.EvalSymlinks(exe)
		}
		if err != nil {
			return "", fmt.Errorf("finding the skiff binary: %w", err)
		}
		return filepath.Dir(exe), nil
	}
	load := func() ([]byte, error) { return embedded.Bundle, nil }
	return bundle.Unpack(dataDir, strings.TrimSpace(embedded.BundleSum), load)
}
