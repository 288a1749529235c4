package containerd

import (
	"slices"
	"testing"
)

func TestChildEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		want    []string
		absent  []string
	}{{
		name:    "skiff's defaults",
		environ: []string{"HOME=/root", "PATH=/usr/bin", "SKIFF_MULTICALL=kubectl", "NOTIFY_SOCKET=/run/n"},
		want:    []string{"HOME=/root", "GOGC=25", "PATH=/bin/dir:/usr/bin"},
		absent:  []string{"SKIFF_MULTICALL=kubectl", "NOTIFY_SOCKET=/run/n", "PATH=/usr/bin"},
	}, {
		name:    "the user's GC settings win",
		environ: []string{"GOMEMLIMIT=200MiB"},
		want:    []string{"GOMEMLIMIT=200MiB"},
		absent:  []string{"GOGC=25"},
	}, {
		name:    "an empty GOGC is unset",
		environ: []string{"GOGC="},
		want:    []string{"GOGC=25"},
		absent:  []string{"GOGC="},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := childEnv(tc.environ, "/bin/dir")
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("childEnv(%q) = %q, missing %q", tc.environ, got, w)
				}
			}
			for _, a := range tc.absent {
				if slices.Contains(got, a) {
					t.Errorf("childEnv(%q) = %q, should not have %q", tc.environ, got, a)
				}
			}
		})
	}
}
