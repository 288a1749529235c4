package token

import (
	"github.com/skiff-k8s/skiff/internal/fsutil"

	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// fileMode keeps the token readable by root only: it admits nodes.
const fileMode os.FileMode = 0o600

// readFile returns the token stored at path; found is false if there is
// none.
func readFile(path string) (t Token, found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Token{}, false, nil
	}
	if err != nil {
		return Token{}, false, fmt.Errorf("reading token: %w", err)
	}
	t, err = Parse(string(data))
	if err != nil {
		return Token{}, false, fmt.Errorf("reading token from %s: %w", path, err)
	}
	// A token file someone made world-readable is narrowed again.
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&^fileMode != 0 {
		if err := os.Chmod(path, fileMode); err != nil {
			return Token{}, false, fmt.Errorf("restricting mode of %s: %w", path, err)
		}
	}
	return t, true, nil
}

// writeFile stores t atomically, so that a crash never leaves a truncated
// token that would lock every node out.
func writeFile(path string, t Token) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("writing token: %w", err)
	}
	if err := fsutil.WriteFile(path, []byte(t.String()+"\n"), fileMode); err != nil {
		return fmt.Errorf("writing token: %w", err)
	}
	return nil
}
