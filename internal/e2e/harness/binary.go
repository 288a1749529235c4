package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// RepoRoot is the nearest directory at or above the working directory that
// holds go.mod. hint is added to the error, to say what to set instead.
func RepoRoot(hint string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (no go.mod above the working directory): " + hint)
		}
		dir = parent
	}
}

// FindBinary returns the absolute path of $SKIFF_BIN, or of <repo>/bin/skiff,
// after checking that it is an executable file. hint is for RepoRoot.
func FindBinary(hint string) (string, error) {
	p := os.Getenv("SKIFF_BIN")
	if p == "" {
		root, err := RepoRoot(hint)
		if err != nil {
			return "", err
		}
		p = filepath.Join(root, "bin", "skiff")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("skiff binary not found at %s (%v): build it first with scripts/build, or point SKIFF_BIN at a built binary", abs, err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file: build it with scripts/build, or point SKIFF_BIN at a built binary", abs)
	}
	return abs, nil
}

// RequireRoot fails unless the process runs as root; what says what the
// tests do that needs it.
func RequireRoot(what string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s and must run as root (euid is %d): run them as root, or pass -short to skip the integration tests", what, os.Geteuid())
	}
	return nil
}
