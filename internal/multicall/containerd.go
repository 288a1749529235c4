package multicall

import (
	"context"
	"fmt"
	"os"
	"time"

	_ "github.com/containerd/containerd/v2/cmd/containerd/builtins" // the daemon's plugins
	"github.com/containerd/containerd/v2/cmd/containerd/command"

	"github.com/skiff-k8s/skiff/internal/memory"
)

// RunContainerd runs the containerd daemon with args (args[0] is the
// program name) and returns its exit code.
func RunContainerd(args []string) int {
	memory.ReleaseExecutableAfter(20 * time.Second)
	if err := command.App().Run(context.Background(), args); err != nil {
		fmt.Fprintln(os.Stderr, "containerd:", err)
		return 1
	}
	return 0
}
