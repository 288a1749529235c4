package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func skiffBinary(t *testing.T) string {
	if bin := os.Getenv("SKIFF_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(repoRoot(t), "bin", "skiff")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no skiff binary at %s: run scripts/build first", bin)
	}
	return bin
}

func runInstall(t *testing.T, root string, env []string, args ...string) (string, error) {
	cmd := exec.Command("sh", append([]string{filepath.Join(repoRoot(t), "install.sh")}, args...)...)
	cmd.Env = append(os.Environ(), append([]string{"INSTALL_SKIFF_ROOT=" + root}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestE2EInstallScriptInstallsBinaryLinksAndService(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: runs install.sh with the real binary")
	}
	root := t.TempDir()
	out, err := runInstall(t, root, []string{"INSTALL_SKIFF_BIN=" + skiffBinary(t)},
		"server", "--tls-san", "edge.example.com", "--node-label", "site=it's-here")
	if err != nil {
		t.Fatalf("install.sh failed: %v\n%s", err, out)
	}
	bin := filepath.Join(root, "usr/local/bin")
	version, err := exec.Command(filepath.Join(bin, "skiff"), "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(version), "kubernetes v1.37.2") {
		t.Fatalf("installed skiff --version: %v %s", err, version)
	}
	for _, tool := range []string{"kubectl", "crictl", "ctr"} {
		if target, err := os.Readlink(filepath.Join(bin, tool)); err != nil || target != "skiff" {
			t.Errorf("%s link: %q, %v", tool, target, err)
		}
	}
	for _, script := range []string{"skiff-killall.sh", "skiff-uninstall.sh"} {
		st, err := os.Stat(filepath.Join(bin, script))
		if err != nil || st.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s: %v (mode %v)", script, err, st)
		}
	}
	unit, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/skiff.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ExecStart=/usr/local/bin/skiff server '--tls-san' 'edge.example.com' '--node-label' 'site=it'\\''s-here'",
		"KillMode=process",
		"Delegate=yes",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	// A second run upgrades in place.
	if out, err := runInstall(t, root, []string{"INSTALL_SKIFF_BIN=" + skiffBinary(t)}); err != nil {
		t.Fatalf("second install.sh run failed: %v\n%s", err, out)
	}
}

// TestE2EInstallScriptInstallsAnAgent: SKIFF_URL alone makes the service
// an agent, as K3S_URL does for k3s, and the URL and token reach the service
// through its environment file (mode 0600), not its command line.
func TestE2EInstallScriptInstallsAnAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: runs install.sh with the real binary")
	}
	root := t.TempDir()
	out, err := runInstall(t, root, []string{"INSTALL_SKIFF_BIN=" + skiffBinary(t),
		"SKIFF_URL=https://192.0.2.10:6443", "SKIFF_TOKEN=K10abc::node:s3cret"}, "--node-label", "role=edge")
	if err != nil {
		t.Fatalf("install.sh failed: %v\n%s", err, out)
	}
	unit, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/skiff.service"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "ExecStart=/usr/local/bin/skiff agent '--node-label' 'role=edge'"; !strings.Contains(string(unit), want) {
		t.Errorf("unit lacks %q:\n%s", want, unit)
	}
	if strings.Contains(string(unit), "s3cret") {
		t.Error("the token is in the unit file, which is world-readable")
	}
	envFile := filepath.Join(root, "etc/systemd/system/skiff.service.env")
	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SKIFF_URL=https://192.0.2.10:6443\n", "SKIFF_TOKEN=K10abc::node:s3cret\n"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("%s lacks %q:\n%s", envFile, want, env)
		}
	}
	if st, err := os.Stat(envFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, %v; want 0600", envFile, st.Mode().Perm(), err)
	}
}

func TestE2EInstallScriptRefusesBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: runs install.sh")
	}
	for name, tc := range map[string]struct {
		env  []string
		args []string
		want string
	}{
		"no binary":       {nil, nil, "set INSTALL_SKIFF_BIN"},
		"missing binary":  {[]string{"INSTALL_SKIFF_BIN=/nonexistent/skiff"}, nil, "not an executable"},
		"not a binary":    {[]string{"INSTALL_SKIFF_BIN=" + notABinary(t)}, nil, "does not run"},
		"unknown command": {[]string{"INSTALL_SKIFF_BIN=" + skiffBinary(t)}, []string{"fly"}, "unknown command"},
		"agent, no URL":   {[]string{"INSTALL_SKIFF_BIN=" + skiffBinary(t)}, []string{"agent"}, "needs SKIFF_URL"},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			out, err := runInstall(t, root, append([]string{"INSTALL_SKIFF_BIN=", "INSTALL_SKIFF_URL="}, tc.env...), tc.args...)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("want a failure saying %q, got %v:\n%s", tc.want, err, out)
			}
			if _, err := os.Stat(filepath.Join(root, "usr/local/bin/skiff")); err == nil {
				t.Error("a failed install left a binary behind")
			}
		})
	}
}

func notABinary(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "skiff")
	if err := os.WriteFile(path, []byte("not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
