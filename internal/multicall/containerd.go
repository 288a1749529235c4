package multicall

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task/plugin" // the shim's task service
	_ "github.com/containerd/containerd/v2/cmd/containerd/builtins"                 // the daemon's plugins
	"github.com/containerd/containerd/v2/cmd/containerd/command"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"

	"github.com/skiff-k8s/skiff/internal/memory"
)

// shimTask is the runc shim's task service. It is the only plugin the shim
// takes from the global registry (pkg/shim registers its own "shutdown" and
// "publisher" when it runs), and the one plugin the daemon must not load.
const shimTask = string(plugins.TTRPCPlugin) + ".task"

// isShimOnly reports whether r belongs to the shim, not the daemon.
func isShimOnly(r *plugin.Registration) bool { return r.URI() == shimTask }

// keepRegistered narrows containerd's global plugin registry to the
// registrations keep accepts, in dependency order.
func keepRegistered(keep func(*plugin.Registration) bool) {
	all := registry.Graph(func(*plugin.Registration) bool { return false })
	registry.Reset()
	for i := range all {
		if keep(&all[i]) {
			registry.Register(&all[i])
		}
	}
}

// RunContainerd runs the containerd daemon with args (args[0] is the
// program name) and returns its exit code.
func RunContainerd(args []string) int {
	keepRegistered(func(r *plugin.Registration) bool { return !isShimOnly(r) })
	memory.ReleaseExecutableAfter(20 * time.Second)
	if err := command.App().Run(context.Background(), args); err != nil {
		fmt.Fprintln(os.Stderr, "containerd:", err)
		return 1
	}
	return 0
}

// RunShim runs the runc v2 shim; args are read from os.Args by the shim
// itself, as upstream. It does not return.
func RunShim() {
	keepRegistered(isShimOnly)
	memory.ReleaseExecutableAfter(5 * time.Second)
	shim.RunShim(context.Background(), manager.NewShimManager("io.containerd.runc.v2"))
	os.Exit(0)
}
