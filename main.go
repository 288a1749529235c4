//go:build !launcher

// Command skiff is upstream Kubernetes in one binary. main only dispatches on
// the name it was called by (see internal/multicall), so that links named
// kubectl, crictl and ctr reach the built-in tool; everything else is
// internal/cli. A release's download is the launcher (launcher.go) with
// this binary inside.
package main

import (
	"os"

	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/kubectl"
	"github.com/skiff-k8s/skiff/internal/multicall"
)

func main() {
	switch multicall.Resolve(os.Args[0]) {
	case multicall.Kubectl:
		kubectl.Main(os.Args[1:])
	case multicall.Ctr:
		os.Exit(multicall.RunCtr(os.Args))
	case multicall.Crictl:
		os.Exit(multicall.RunCrictl(os.Args))
	default:
		os.Exit(cli.Main(os.Args))
	}
}
