package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2ECheckConfig: `skiff check-config` passes on this machine; with no
// iptables on PATH it says so with the fix and fails; and a server or an
// agent then refuses to start, at once, with that same line, writing
// nothing.
func TestE2ECheckConfig(t *testing.T) {
	integration(t)
	t.Parallel()

	t.Run("passes_here", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		r := runSkiff(t, 60*time.Second, nil, checkConfigArgs(t, c)...)
		t.Logf("skiff check-config (exit %d, %v):\n%s", r.Code, r.Took.Round(time.Millisecond), r.Stdout)
		if r.Code != 0 {
			t.Errorf("exit %d, want 0\nstderr: %s", r.Code, r.Stderr)
		}
		for _, line := range nonEmptyLines(r.Stdout) {
			if !strings.HasPrefix(line, "ok: ") && !strings.HasPrefix(line, "warning: ") {
				t.Errorf("not ok: %s", line)
			}
		}
		// Each required check said ok.
		for _, want := range []string{"namespaces:", "cgroup v", "bridge:", "veth:", "vxlan:", "iptables v", "IP forwarding is",
			"data dir " + c.DataDir, "port " + strconv.Itoa(c.Port) + " (skiff's https port) is free"} {
			if !strings.Contains(r.Stdout, "ok: "+want) {
				t.Errorf("no line %q", "ok: "+want+"...")
			}
		}
		mustNotExist(t, c.DataDir, "check-config")
	})

	t.Run("no_iptables_on_path", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		line := checkConfigWithoutIPTables(t, c)
		t.Logf("the line: %s", line)
		mustNotExist(t, c.DataDir, "check-config")
	})

	t.Run("server_refuses_without_iptables", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		line := checkConfigWithoutIPTables(t, c)
		// If the check did not stop it, the unreachable datastore does,
		// before the node's parts touch this host.
		closed := freeServerPorts(t)
		args := append([]string{"server", "--config", emptyConfig(c.Root),
			"--bind-address", "127.0.0.1", "--https-listen-port", strconv.Itoa(c.Port),
			"--data-dir", c.DataDir, "--write-kubeconfig", c.Kubeconfig,
			"--token", "e2e-secret", "--datastore-timeout", "2s",
			"--datastore-endpoint", "postgres://u:p@127.0.0.1:" + strconv.Itoa(closed) + "/db"}, nodePortArgs(t)...)
		r := runSkiff(t, 60*time.Second, []string{"PATH=" + emptyPath(t, c)}, args...)
		expectSameRefusal(t, r, line)
		mustNotExist(t, c.DataDir, "a server refused for want of iptables")
		mustNotExist(t, c.Kubeconfig, "a server refused for want of iptables")
	})

	t.Run("agent_refuses_without_iptables", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		line := checkConfigWithoutIPTables(t, c)
		// If the check did not stop it, it would only wait for a server
		// that never answers.
		closed := freeServerPorts(t)
		args := append([]string{"agent", "--config", emptyConfig(c.Root),
			"--server", "https://127.0.0.1:" + strconv.Itoa(closed), "--token", "e2e-secret",
			"--data-dir", c.DataDir, "--private-registry", filepath.Join(c.Root, "none.yaml")}, nodePortArgs(t)...)
		r := runSkiff(t, 30*time.Second, []string{"PATH=" + emptyPath(t, c)}, args...)
		expectSameRefusal(t, r, line)
		mustNotExist(t, c.DataDir, "an agent refused for want of iptables")
	})
}

// checkConfigArgs are check-config's for a server of c with its node, on
// ports no other test uses: node tests may run a kubelet on this machine
// meanwhile.
func checkConfigArgs(t *testing.T, c *serverConfig) []string {
	return append([]string{"check-config", "--config", emptyConfig(c.Root), "--data-dir", c.DataDir,
		"--bind-address", "127.0.0.1", "--https-listen-port", strconv.Itoa(c.Port)}, nodePortArgs(t)...)
}

func nodePortArgs(t *testing.T) []string {
	k, p := freeServerPorts(t), freeServerPorts(t)
	return []string{
		"--kubelet-arg", "address=127.0.0.1", "--kubelet-arg", "port=" + strconv.Itoa(k),
		"--kubelet-arg", "healthz-port=" + strconv.Itoa(k+1),
		"--kube-proxy-arg", "healthz-bind-address=127.0.0.1:" + strconv.Itoa(p),
		"--kube-proxy-arg", "metrics-bind-address=127.0.0.1:" + strconv.Itoa(p+1),
	}
}

// emptyPath is a folder with no programs in it, to be PATH.
func emptyPath(t *testing.T, c *serverConfig) string {
	dir := filepath.Join(c.Root, "empty-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkConfigWithoutIPTables runs check-config with an empty PATH, checks
// that iptables, and only it, is reported missing with a fix, and returns
// that line.
func checkConfigWithoutIPTables(t *testing.T, c *serverConfig) string {
	t.Helper()
	r := runSkiff(t, 60*time.Second, []string{"PATH=" + emptyPath(t, c)}, checkConfigArgs(t, c)...)
	expectUsageError(t, r, "1 required check failed")
	var missing []string
	for _, line := range nonEmptyLines(r.Stdout) {
		if strings.HasPrefix(line, "missing: ") {
			missing = append(missing, line)
		}
	}
	if len(missing) != 1 || !strings.HasPrefix(missing[0], "missing: iptables") || !strings.Contains(missing[0], "not on PATH") {
		t.Fatalf("want one missing line, about iptables not on PATH; stdout:\n%s", r.Stdout)
	}
	// The fix: PATH to widen, or the package to install.
	if !strings.Contains(missing[0], "to PATH") && !strings.Contains(missing[0], "install") {
		t.Errorf("no fix in %q", missing[0])
	}
	return missing[0]
}

// expectSameRefusal asserts that a start was refused promptly with the
// line check-config printed.
func expectSameRefusal(t *testing.T, r result, line string) {
	t.Helper()
	expectUsageError(t, r, line)
	if !r.TimedOut && r.Took > 10*time.Second {
		t.Errorf("refused after %v; want it at once", r.Took.Round(time.Millisecond))
	}
}
