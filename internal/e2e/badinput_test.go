package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestE2EBadInput: each kind of bad input gets a non-zero exit, one
// "skiff: ..." line on stderr naming the problem, a prompt end, and nothing
// half-written on disk.
func TestE2EBadInput(t *testing.T) {
	integration(t)
	t.Parallel()

	t.Run("unknown_flag", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		r := runSkiff(t, 30*time.Second, nil, append(standardArgs(c), "--no-such-flag")...)
		expectUsageError(t, r, "flag provided but not defined")
		mustNotExist(t, c.DataDir, "an unknown flag")
		mustNotExist(t, c.Kubeconfig, "an unknown flag")
	})

	t.Run("unknown_config_key", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		f := writeFile(t, filepath.Join(c.Root, "config.yaml"), fmt.Sprintf(
			"data-dir: %s\nwrite-kubeconfig: %s\nhttps-listen-port: %d\nbind-address: 127.0.0.1\ndisable-agent: true\nno-such-key: 1\n",
			c.DataDir, c.Kubeconfig, c.Port))
		r := runSkiff(t, 30*time.Second, nil, "server", "--config", f)
		expectUsageError(t, r, "no-such-key", "config")
		mustNotExist(t, c.DataDir, "an unknown config key")
		mustNotExist(t, c.Kubeconfig, "an unknown config key")
	})

	t.Run("malformed_config_yaml", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		f := writeFile(t, filepath.Join(c.Root, "config.yaml"),
			"disable-agent: true\ntls-san: [a.example.com\nbind-address: 127.0.0.1\n")
		args := standardArgs(c)
		args[2] = f // --config <f>
		r := runSkiff(t, 30*time.Second, nil, args...)
		expectUsageError(t, r, f, "line")
		mustNotExist(t, c.DataDir, "a malformed config file")
		mustNotExist(t, c.Kubeconfig, "a malformed config file")
	})

	for _, db := range []struct{ name, endpoint string }{
		{"postgres", "postgres://u:p@127.0.0.1:%d/db"},
		{"mysql", "mysql://u:p@tcp(127.0.0.1:%d)/db"},
	} {
		t.Run("unreachable_datastore_"+db.name, func(t *testing.T) {
			t.Parallel()
			c := newServerConfig(t)
			closed := freeServerPorts(t) // nothing listens there
			ep := fmt.Sprintf(db.endpoint, closed)
			r := runSkiff(t, 90*time.Second, nil, append(standardArgs(c), "--token", "e2e-secret", "--datastore-endpoint", ep)...)
			expectUsageError(t, r, "datastore")
			if !r.TimedOut && r.Took > 60*time.Second {
				t.Errorf("gave up on an unreachable datastore after %v; want within 60s", r.Took.Round(time.Second))
			}
			// The apiserver never came up: no admin kubeconfig pointing at it.
			mustNotExist(t, c.Kubeconfig, "an unreachable datastore")
		})
	}

	t.Run("data_dir_under_a_file", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		file := writeFile(t, filepath.Join(c.Root, "afile"), "not a directory\n")
		c.DataDir = filepath.Join(file, "data")
		r := runSkiff(t, 30*time.Second, nil, standardArgs(c)...)
		expectUsageError(t, r, "data dir")
		if b, err := os.ReadFile(file); err != nil || string(b) != "not a directory\n" {
			t.Errorf("the regular file in the way was changed: %q %v", b, err)
		}
		mustNotExist(t, c.Kubeconfig, "an unusable data dir")
	})

	t.Run("port_in_use", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		r := runSkiff(t, 60*time.Second, nil, standardArgs(c)...)
		expectUsageError(t, r, "already in use")
		mustNotExist(t, c.Kubeconfig, "a port in use")
	})

	t.Run("unknown_flannel_backend", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		r := runSkiff(t, 30*time.Second, nil, append(standardArgs(c), "--flannel-backend", "wireguard")...)
		expectUsageError(t, r, "--flannel-backend", "vxlan, host-gw, none")
		mustNotExist(t, c.DataDir, "an unknown flannel backend")
	})

	// A server refuses addon settings it cannot use before it writes
	// anything; --disable is read from the config file too.
	for _, tc := range []struct {
		name   string
		args   []string
		config string
		want   []string
	}{
		{name: "unknown_disable_name", args: []string{"--disable", "coredns,ingress"},
			want: []string{`--disable "ingress" is not a built-in addon`, "coredns, local-storage, servicelb, metrics-server, traefik, helm-controller"}},
		{name: "unknown_disable_name_in_config_file", config: "disable:\n  - metrics-server\n  - dns\n",
			want: []string{`--disable "dns" is not a built-in addon`}},
		{name: "resolv_conf_missing", args: []string{"--resolv-conf", "/nonexistent/resolv.conf"},
			want: []string{"--resolv-conf", "/nonexistent/resolv.conf"}},
		{name: "relative_local_storage_path", args: []string{"--default-local-storage-path", "storage"},
			want: []string{"--default-local-storage-path", "absolute"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newServerConfig(t)
			args := append(standardArgs(c), tc.args...)
			if tc.config != "" {
				args[2] = writeFile(t, filepath.Join(c.Root, "config.yaml"), tc.config) // --config <file>
			}
			r := runSkiff(t, 30*time.Second, nil, args...)
			expectUsageError(t, r, tc.want...)
			mustNotExist(t, c.DataDir, tc.name)
			mustNotExist(t, c.Kubeconfig, tc.name)
		})
	}

	// An agent refuses what it cannot use before it contacts anything or
	// writes its data dir.
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"agent_without_server", []string{"--token", "abc"}, []string{"--server is required"}},
		{"agent_without_token", []string{"--server", "https://127.0.0.1:1"}, []string{"--token is required"}},
		{"agent_malformed_token", []string{"--server", "https://127.0.0.1:1", "--token", "K10abc::node:x"}, []string{"token is malformed"}},
		{"agent_http_server_url", []string{"--server", "http://127.0.0.1:1", "--token", "abc"}, []string{"https://"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"agent", "--data-dir", dataDir, "--private-registry", filepath.Join(t.TempDir(), "none.yaml")}, tc.args...)
			r := runSkiff(t, 30*time.Second, []string{"SKIFF_URL=", "SKIFF_TOKEN="}, args...)
			expectUsageError(t, r, tc.want...)
			mustNotExist(t, dataDir, "a refused agent")
		})
	}

	t.Run("token_mismatch", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, withArgs("--token", "e2e-first-secret"))
		s.Stop()
		before := snapshotSecrets(t, s.cfg.DataDir)
		if !bytes.HasSuffix(bytes.TrimSpace(before["server/token"]), []byte("::server:e2e-first-secret")) {
			t.Errorf("stored token %q does not end in the --token given (::server:e2e-first-secret)", bytes.TrimSpace(before["server/token"]))
		}
		r := runSkiff(t, 60*time.Second, nil, append(standardArgs(&s.cfg), "--token", "e2e-other-secret")...)
		expectUsageError(t, r, "token")
		compareSnapshots(t, "after a refused --token", before, snapshotSecrets(t, s.cfg.DataDir))
		// The refused attempt broke nothing: the right token still starts it.
		s.Restart()
		s.Stop()
	})
}
