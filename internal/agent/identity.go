package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// Identity files, under <data-dir>/agent. They are what makes a rejoining
// node the same node: keep them with the data dir.
const (
	nodePasswordFile = "node-password"
	nodeIDFile       = "node-id"
)

// NodeName is the name the node registers under: the given one, or the
// host name in lower case, with the node's persistent random id appended
// when withID is set (for machines that share a host name, such as clones
// of one image).
func NodeName(dataDir, given string, withID bool) (string, error) {
	name := given
	if name == "" {
		host, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("finding the host name (%v); set --node-name", err)
		}
		name = strings.ToLower(host)
	}
	if !withID {
		return name, nil
	}
	id, err := readOrCreateSecret(filepath.Join(dataDir, "agent", nodeIDFile), 4)
	if err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	return name + "-" + id, nil
}

// NodePassword is this node's proof that a node name is its own; the server
// keeps only a hash of it.
func NodePassword(dataDir string) (string, error) {
	pw, err := readOrCreateSecret(filepath.Join(dataDir, "agent", nodePasswordFile), 32)
	if err != nil {
		return "", fmt.Errorf("node password: %w", err)
	}
	return pw, nil
}

// readOrCreateSecret returns the hex string kept at path, creating one of n
// random bytes (mode 0600) the first time.
func readOrCreateSecret(path string, n int) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(data))
		if s == "" {
			return "", fmt.Errorf("%s is empty; remove it to make a new one (the node then needs a new name)", path)
		}
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := fsutil.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return s, nil
}
