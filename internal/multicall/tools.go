package multicall

import (
	"context"
	"fmt"
	"os"

	ctrapp "github.com/containerd/containerd/v2/cmd/ctr/app"

	"github.com/skiff-k8s/skiff/internal/crictl"
)

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

// RunCrictl runs crictl (linked in: internal/crictl) with args (args[0] is
// the program name) against skiff's containerd, unless the environment or
// /etc/crictl.yaml choose an endpoint, and returns its exit code.
func RunCrictl(args []string) int {
	if _, err := os.Stat("/etc/crictl.yaml"); err != nil && os.Getenv("CRI_CONFIG_FILE") == "" {
		setDefaultEnv("CONTAINER_RUNTIME_ENDPOINT", "unix://"+DefaultSocket)
		setDefaultEnv("IMAGE_SERVICE_ENDPOINT", "unix://"+DefaultSocket)
		// An empty config, so that crictl does not warn on every call
		// that it found none; the endpoints come from the environment.
		os.Setenv("CRI_CONFIG_FILE", os.DevNull) //nolint:errcheck // valid key
	}
	return crictl.Main(append([]string{Crictl}, args[1:]...))
}

func setDefaultEnv(key, value string) {
	if os.Getenv(key) == "" {
		os.Setenv(key, value) //nolint:errcheck // valid key
	}
}
