package node

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// TestE2ENodeRelease runs what a user downloads: dist/skiff, the launcher
// that scripts/release builds, with skiff and its runtime inside. Its sum
// file matches it; its first start unpacks into <data-dir>/data/<sha256>/
// and runs a node from there (containerd, runc and the CNI plugins too, so
// CoreDNS runs); a link named kubectl reaches kubectl and shows the node's
// control-plane role, and --version prints every version.
func TestE2ENodeRelease(t *testing.T) {
	integration(t)
	root, err := harness.RepoRoot(rootHint)
	if err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(root, "dist")
	download, err := os.ReadFile(filepath.Join(dist, "skiff"))
	if err != nil {
		t.Fatalf("%v: build the release first with scripts/release amd64 (scripts/test does)", err)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "sha256sum-amd64.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(download)
	if want := hex.EncodeToString(sum[:]) + "  skiff\n"; !strings.Contains(string(sums), want) {
		t.Errorf("sha256sum-amd64.txt does not list dist/skiff's sum %s:\n%s", want, sums)
	}

	n := newNode(t)
	// Installed as install.sh installs it: the file, and links to it.
	bin := filepath.Join(n.Root, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	skiff := filepath.Join(bin, "skiff")
	if err := os.WriteFile(skiff, download, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("skiff", filepath.Join(bin, "kubectl")); err != nil {
		t.Fatal(err)
	}
	env := []string{"SKIFF_DATA_DIR=" + n.DataDir}

	// The first start of this version unpacks it.
	r, err := harness.Run(skiff, time.Minute, env, "--version")
	if err != nil || r.Code != 0 {
		t.Fatalf("skiff --version: %v, exit %d\n%s%s", err, r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"skiff", "kubernetes v1.37.2", "containerd v2.", "go1."} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("skiff --version does not say %q:\n%s", want, r.Stdout)
		}
	}
	current, err := filepath.EvalSymlinks(filepath.Join(n.DataDir, "data", "current"))
	if err != nil {
		t.Fatalf("data/current after the first start: %v", err)
	}
	for _, f := range []string{"skiff", "containerd", "containerd-shim-runc-v2", "runc", "bridge"} {
		if st, err := os.Stat(filepath.Join(current, "bin", f)); err != nil || st.Mode().Perm()&0o111 == 0 {
			t.Errorf("the release's %s was not unpacked: %v", f, err)
		}
	}

	// The release's download leaves Traefik's image out; offline, the
	// airgap images tarball beside it brings it, as install.sh places it.
	airgap, err := os.ReadFile(filepath.Join(dist, "skiff-airgap-images-amd64.tar.zst"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.ImagesDir(), "skiff-airgap-images-amd64.tar.zst"), airgap, 0o600); err != nil {
		t.Fatal(err)
	}

	n.proc.Bin = skiff
	n.Start()
	n.kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=80s")
	n.kubectl("-n", "kube-system", "rollout", "status", "deployment/traefik", "--timeout=120s")

	// containerd runs from the folder the launcher unpacked.
	out, err := exec.Command("pgrep", "-f", "-a", filepath.Join(current, "bin", "containerd")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "containerd") {
		t.Errorf("no containerd from %s runs: %v %s", current, err, out)
	}

	// kubectl, as the link a user has; ROLES as on k3s.
	kubectl := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", n.Kubeconfig, "get", "nodes", "--no-headers")
	kubectl.Env = append(os.Environ(), env...)
	if out, err := kubectl.CombinedOutput(); err != nil || !strings.Contains(string(out), n.Name) || !strings.Contains(string(out), " Ready") ||
		!strings.Contains(string(out), "control-plane") {
		t.Errorf("kubectl get nodes through the link: %v\n%s", err, out)
	}

	// crictl, linked into the release's skiff: the link its agent made in
	// the unpacked folder lists the running CoreDNS container.
	crictl := exec.Command(filepath.Join(current, "bin", "crictl"), "ps", "--name", "coredns", "--state", "Running", "-q")
	if out, err := crictl.CombinedOutput(); err != nil || len(strings.Fields(string(out))) != 1 {
		t.Errorf("crictl ps --name coredns from the release: %v, want one container ID\n%s", err, out)
	}
}
