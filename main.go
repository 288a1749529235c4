// Command skiff is upstream Kubernetes in one binary. main only dispatches on
// the name it was called by, so that links named kubectl (and later crictl,
// ctr, containerd) reach the built-in tool; everything else is internal/cli.
package main

import (
	"os"
	"path/filepath"

	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/kubectl"
)

func main() {
	switch filepath.Base(os.Args[0]) {
	case "kubectl":
		kubectl.Main(os.Args[1:])
	default:
		os.Exit(cli.Main(os.Args))
	}
}
