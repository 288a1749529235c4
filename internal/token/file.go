package token

import (
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
	dir, base := filepath.Split(path)
	if err := os.MkdirAll(filepath.Clean(dir), 0o700); err != nil {
		return fmt.Errorf("writing token: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing token: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// Narrow the mode before the secret lands in the file.
	if err := tmp.Chmod(fileMode); err != nil {
		return fmt.Errorf("writing token to %s: %w", path, err)
	}
	if _, err := tmp.WriteString(t.String() + "\n"); err != nil {
		return fmt.Errorf("writing token to %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing token to %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing token to %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing token to %s: %w", path, err)
	}
	committed = true
	// Make the rename durable; failing here only weakens that, so it is
	// not reported.
	if d, err := os.Open(filepath.Clean(dir)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
