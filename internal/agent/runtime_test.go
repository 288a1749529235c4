package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/embedded"
)

// The sum the build embedded is the embedded bundle's: the folder the
// bundle unpacks into is named by it.
func TestEmbeddedBundleSum(t *testing.T) {
	if embedded.Launched {
		t.Skip("a launched build carries no bundle")
	}
	sum := sha256.Sum256(embedded.Bundle)
	if got, want := strings.TrimSpace(embedded.BundleSum), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("embedded BundleSum %s, but the bundle's sha256 is %s: rerun scripts/bundle", got, want)
	}
}

// TestRuntimeBin unpacks the real bundle that scripts/bundle built.
func TestRuntimeBin(t *testing.T) {
	if embedded.Launched {
		t.Skip("a launched build carries no bundle")
	}
	dataDir := t.TempDir()
	start := time.Now()
	bin, err := runtimeBin(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unpacked %d MB in %v", len(embedded.Bundle)>>20, time.Since(start))
	for _, name := range []string{"containerd", "containerd-shim-runc-v2", "runc", "bridge", "host-local", "loopback", "portmap", "bandwidth"} {
		if st, err := os.Stat(filepath.Join(bin, name)); err != nil || st.Mode().Perm() != 0o755 || st.Size() < 1<<20 {
			t.Errorf("%s: %v %v", name, st, err)
		}
	}
	for _, name := range []string{"crictl", "ctr", "kubectl"} {
		if target, err := os.Readlink(filepath.Join(bin, name)); err != nil || filepath.Base(target) == "" {
			t.Errorf("%s link: %q %v", name, target, err)
		}
	}
	start = time.Now()
	if _, err := runtimeBin(dataDir); err != nil {
		t.Fatal(err)
	}
	t.Logf("reused it in %v", time.Since(start))
}
