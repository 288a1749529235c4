package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// TestE2EReleaseArm64 runs the arm64 download under qemu-user: the
// launcher unpacks its archive and runs skiff, which prints its versions
// and checks this host. scripts/test builds the amd64 release only (arm64
// adds ~20 minutes on 2 cores), so this runs where `scripts/release arm64`
// was run.
func TestE2EReleaseArm64(t *testing.T) {
	integration(t)
	root, err := harness.RepoRoot("")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "dist", "skiff-arm64")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("dist/skiff-arm64 is not built: scripts/release arm64 builds it (scripts/test does not)")
	}
	// The launcher execs the skiff it unpacked: the kernel must hand arm64
	// binaries to qemu itself.
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err != nil {
		t.Fatal("qemu-aarch64 is not registered with binfmt_misc: scripts/release arm64 registers it (qemu-user-static from scripts/deps arm64)")
	}
	dataDir := t.TempDir()
	env := []string{"SKIFF_DATA_DIR=" + dataDir}

	r, err := harness.Run(bin, 3*time.Minute, env, "--version")
	if err != nil || r.Code != 0 {
		t.Fatalf("skiff-arm64 --version: %v, exit %d\n%s%s", err, r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"kubernetes v1.37.2", "containerd v2.", "go1."} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("skiff-arm64 --version does not say %q:\n%s", want, r.Stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "data", "current", "bin", "containerd")); err != nil {
		t.Errorf("the arm64 runtime was not unpacked: %v", err)
	}

	port := freeServerPorts(t)
	r, err = harness.Run(bin, 3*time.Minute, env, "check-config", "--config", emptyConfig(t.TempDir()),
		"--data-dir", dataDir, "--https-listen-port", strconv.Itoa(port))
	if err != nil || r.Code != 0 || !strings.Contains(r.Stdout, "ok: namespaces") || strings.Contains(r.Stdout, "missing:") {
		t.Errorf("skiff-arm64 check-config: %v, exit %d\n%s%s", err, r.Code, r.Stdout, r.Stderr)
	}
}
