package containerd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/embedded"
	"github.com/skiff-k8s/skiff/internal/bundle"
)

// containerdPids returns the pids of processes running as containerd with
// the given config file.
func containerdPids(config string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
		if len(args) > 2 && filepath.Base(string(args[0])) == "containerd" && string(args[2]) == config {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestIntegrationContainerdChild(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a real containerd")
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test must run as root")
	}
	// A short path: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("/tmp", "skiff-ctd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The embedded bundle's containerd, runc and shim, as a node has them.
	binDir, err := bundle.Unpack(filepath.Join(dir, "data"), strings.TrimSpace(embedded.BundleSum),
		func() ([]byte, error) { return embedded.Bundle, nil })
	if err != nil {
		t.Fatal(err)
	}
	c := New(Config{
		DataDir:        filepath.Join(dir, "data"),
		BinDir:         binDir,
		Socket:         filepath.Join(dir, "run", "containerd.sock"),
		State:          filepath.Join(dir, "run"),
		RegistriesFile: filepath.Join(dir, "registries.yaml"),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()

	start := time.Now()
	if err := c.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			c.Stop(context.Background()) //nolint:errcheck
		}
	}()
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("containerd ready %v after Start, snapshotter %s", time.Since(start).Round(time.Millisecond), c.Snapshotter())
	pids := containerdPids(c.Config().ConfigFile())
	if len(pids) != 1 {
		t.Fatalf("want one containerd child, have %v", pids)
	}

	// A containerd that dies is started again.
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		now := containerdPids(c.Config().ConfigFile())
		if len(now) == 1 && now[0] != pids[0] && criVersion(ctx, c.Config().Socket) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd was not restarted; log: %s", lastLines(c.Config().LogFile, 10))
		}
		time.Sleep(100 * time.Millisecond)
	}

	stopCtx, stopCancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer stopCancel()
	if err := c.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if left := containerdPids(c.Config().ConfigFile()); len(left) != 0 {
		t.Fatalf("containerd still running after Stop: %v", left)
	}
}
