package harness

import (
	"os"
	"strings"
	"testing"
)

// Integration skips t under -short, and only then; why says what the test
// does.
func Integration(t *testing.T, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration: " + why)
	}
}

// ScratchDir makes a short directory (named prefix...) for one test and
// removes it at the end. t.TempDir paths embed the test name and can push
// kine's unix socket in <data-dir>/server/ past the 108-byte sun_path
// limit, so we stay short.
func ScratchDir(t *testing.T, prefix string) string {
	t.Helper()
	base := os.TempDir()
	if len(base) > 32 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, prefix)
	if err != nil {
		t.Fatalf("making a scratch dir: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	})
	return dir
}

// WriteFile writes content to path, fails the test if it cannot, and
// returns path.
func WriteFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ChildEnv is the environment of every process the tests start: ours
// without any SKIFF_* or KUBECONFIG that would leak into skiff's settings,
// plus extra.
func ChildEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SKIFF_") || strings.HasPrefix(kv, "KUBECONFIG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
