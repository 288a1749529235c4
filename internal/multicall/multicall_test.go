package multicall

import (
	"os"
	"testing"
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
