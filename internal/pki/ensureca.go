package pki

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// EnsureCA loads the CA at certPath and keyPath, creating it (and its
// folder) when neither exists, by the same rules as Ensure's own CAs: half
// a CA is an error and is never replaced. Parts with a CA of their own,
// such as embedded etcd, use it.
func EnsureCA(certPath, keyPath, name string) (*CA, error) {
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return nil, fmt.Errorf("creating the folder of %s: %w", certPath, err)
	}
	return ensureCA(certPath, keyPath, name, time.Now(), time.Now)
}
