package multicall

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
)

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		argv0, env, want string
	}{
		{"/usr/local/bin/skiff", "", ""},
		{"skiff", "containerd-shim-runc-v2", Shim},
		{"/var/lib/skiff/data/x/bin/containerd", "", Containerd},
		{"containerd-shim-runc-v2", "containerd", Shim}, // the link beats what containerd passed down
		{"kubectl", "", Kubectl},
		{"skiff", "bogus", ""},
	} {
		t.Setenv(EnvVar, tc.env)
		if got := Resolve(tc.argv0); got != tc.want {
			t.Errorf("Resolve(%q) with %s=%q = %q, want %q", tc.argv0, EnvVar, tc.env, got, tc.want)
		}
		if tc.want != "" && os.Getenv(EnvVar) != tc.want {
			t.Errorf("Resolve(%q) left %s=%q, want %q", tc.argv0, EnvVar, os.Getenv(EnvVar), tc.want)
		}
	}
}

// TestRegistrySplit checks that the daemon and the shim each see only their
// own plugins although both are linked in.
func TestRegistrySplit(t *testing.T) {
	uris := func() map[string]bool {
		m := map[string]bool{}
		for _, r := range registry.Graph(func(*plugin.Registration) bool { return false }) {
			m[r.URI()] = true
		}
		return m
	}
	saved := registry.Graph(func(*plugin.Registration) bool { return false })
	restore := func() {
		registry.Reset()
		for i := range saved {
			registry.Register(&saved[i])
		}
	}
	defer restore()

	all := uris()
	if !all[shimTask] || !all[string(plugins.GRPCPlugin)+".cri"] {
		t.Fatalf("expected both the shim task and CRI to be registered, have %v", all)
	}
	keepRegistered(func(r *plugin.Registration) bool { return !isShimOnly(r) })
	if daemon := uris(); daemon[shimTask] || len(daemon) != len(all)-1 {
		t.Errorf("daemon registry: %d of %d plugins, shim task present=%v", len(daemon), len(all), daemon[shimTask])
	}
	restore()
	keepRegistered(isShimOnly)
	if shim := uris(); len(shim) != 1 || !shim[shimTask] {
		t.Errorf("shim registry: %v, want only %s", shim, shimTask)
	}
}

func TestFindBundled(t *testing.T) {
	dir := t.TempDir()
	mk := func(sha string, age time.Duration) string {
		bin := filepath.Join(dir, "data", sha, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(bin, "crictl")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-age)
		os.Chtimes(bin, when, when) //nolint:errcheck
		return p
	}
	if _, err := FindBundled(dir, "crictl"); err == nil {
		t.Fatal("expected an error with no bundle")
	}
	mk("old", time.Hour)
	want := mk("new", time.Minute)
	got, err := FindBundled(dir, "crictl")
	if err != nil || got != want {
		t.Fatalf("FindBundled = %q, %v; want %q", got, err, want)
	}
}
