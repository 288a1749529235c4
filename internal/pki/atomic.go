package pki

import (
	"fmt"
	"os"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

const (
	keyMode  os.FileMode = 0o600
	certMode os.FileMode = 0o644
)

// writeFileAtomic is fsutil.WriteFile: a crash never leaves half a key.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return fsutil.WriteFile(path, data, mode)
}

// tightenMode narrows the permissions of an existing key file that someone
// loosened; it changes neither the content nor the modification time.
func tightenMode(path string, mode os.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("checking mode of %s: %w", path, err)
	}
	if fi.Mode().Perm()&^mode == 0 {
		return nil
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("restricting mode of %s: %w", path, err)
	}
	return nil
}
