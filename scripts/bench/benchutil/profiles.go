package benchutil

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
)

// SaveProfiles saves the server process's heap and goroutine profiles,
// served by the apiserver (all of the server's parts share its process)
// when it runs with --kube-apiserver-arg=profiling=true: heap.pprof and
// goroutine.pprof for go tool pprof, heap.txt and goroutines.txt to read.
func SaveProfiles(ctx context.Context, c kubernetes.Interface, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range []struct{ file, path, debug string }{
		{"heap.pprof", "/debug/pprof/heap", "0"},
		{"goroutine.pprof", "/debug/pprof/goroutine", "0"},
		{"goroutines.txt", "/debug/pprof/goroutine", "1"},
		// Last: with GODEBUG=memprofilerate=1 it takes minutes.
		{"heap.txt", "/debug/pprof/heap", "1"},
	} {
		data, err := c.CoreV1().RESTClient().Get().AbsPath(p.path).Param("debug", p.debug).DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("profile %s: %w", p.path, err)
		}
		if err := os.WriteFile(filepath.Join(dir, p.file), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintln(os.Stderr, "profiles saved in", dir)
	return nil
}
