package multicall

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ctrapp "github.com/containerd/containerd/v2/cmd/ctr/app"
)

// DefaultDataDir is skiff's data dir when SKIFF_DATA_DIR does not say
// otherwise.
const DefaultDataDir = "/var/lib/skiff"

// RunCtr runs containerd's ctr with args (args[0] is the program name)
// against skiff's containerd and returns its exit code. As in k3s, the
// address defaults to skiff's socket and the namespace to k8s.io, the one
// the kubelet uses; CONTAINERD_ADDRESS, CONTAINERD_NAMESPACE and the flags
// still win.
func RunCtr(args []string) int {
	setDefaultEnv("CONTAINERD_ADDRESS", DefaultSocket)
	setDefaultEnv("CONTAINERD_NAMESPACE", "k8s.io")
	args = append([]string{Ctr}, args[1:]...)
	if err := ctrapp.New().Run(context.Background(), args); err != nil {
		fmt.Fprintln(os.Stderr, "ctr:", err)
		return 1
	}
	return 0
}

// RunCrictl replaces the process with the crictl that skiff's bundle
// extracted, pointed at skiff's containerd unless the environment or
// /etc/crictl.yaml choose an endpoint. args[0] is the program name. It
// returns only on failure, with the exit code.
func RunCrictl(args []string) int {
	dataDir := os.Getenv("SKIFF_DATA_DIR")
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	path, err := FindBundled(dataDir, Crictl)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crictl:", err)
		return 1
	}
	if _, err := os.Stat("/etc/crictl.yaml"); err != nil && os.Getenv("CRI_CONFIG_FILE") == "" {
		setDefaultEnv("CONTAINER_RUNTIME_ENDPOINT", "unix://"+DefaultSocket)
		setDefaultEnv("IMAGE_SERVICE_ENDPOINT", "unix://"+DefaultSocket)
		// An empty config, so that crictl does not warn on every call
		// that it found none; the endpoints come from the environment.
		os.Setenv("CRI_CONFIG_FILE", os.DevNull) //nolint:errcheck // valid key
	}
	os.Unsetenv(EnvVar) //nolint:errcheck // crictl is not skiff
	argv := append([]string{Crictl}, args[1:]...)
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "crictl: running %s: %v\n", path, err)
	return 1
}

// FindBundled returns the path of the bundled tool name in the newest
// extracted bundle, <dataDir>/data/<sha>/bin/<name> (or data/current if
// the bundle keeps such a link). A tool that is a link back to this very
// binary is not bundled: running it would only loop.
func FindBundled(dataDir, name string) (string, error) {
	self, _ := os.Executable()
	selfInfo, _ := os.Stat(self)
	usable := func(p string) bool {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
		return selfInfo == nil || !os.SameFile(fi, selfInfo)
	}
	if p := filepath.Join(dataDir, "data", "current", "bin", name); usable(p) {
		return p, nil
	}
	dirs, err := os.ReadDir(filepath.Join(dataDir, "data"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var best string
	var bestTime time.Time
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		bin := filepath.Join(dataDir, "data", d.Name(), "bin")
		p := filepath.Join(bin, name)
		fi, err := os.Stat(bin)
		if err != nil || !usable(p) {
			continue
		}
		if best == "" || fi.ModTime().After(bestTime) {
			best, bestTime = p, fi.ModTime()
		}
	}
	if best == "" {
		return "", fmt.Errorf("no bundled %s under %s: start skiff once (it extracts its tools there), or set SKIFF_DATA_DIR to skiff's --data-dir", name, filepath.Join(dataDir, "data"))
	}
	return best, nil
}

func setDefaultEnv(key, value string) {
	if os.Getenv(key) == "" {
		os.Setenv(key, value) //nolint:errcheck // valid key
	}
}
