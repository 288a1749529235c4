package multicall

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		argv0, env, want string
	}{
		{"/usr/local/bin/skiff", "", ""},
		{"skiff", "ctr", Ctr},
		{"/var/lib/skiff/data/x/bin/containerd", "", ""}, // containerd's own binary now
		{"/usr/local/bin/ctr", "crictl", Ctr},            // the link beats what was passed down
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
