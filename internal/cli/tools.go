package cli

import (
	"github.com/urfave/cli/v2"

	"github.com/skiff-k8s/skiff/internal/multicall"
)

// crictlCommand and ctrCommand are the bundled container tools, reachable
// as `skiff crictl ...` and `skiff ctr ...` as well as through links named
// crictl and ctr. Their flags are the tools' own.
func crictlCommand() *cli.Command {
	return &cli.Command{
		Name:            "crictl",
		Usage:           "run crictl against this node's containerd",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			return exitCode(multicall.RunCrictl(append([]string{"crictl"}, c.Args().Slice()...)))
		},
	}
}

func ctrCommand() *cli.Command {
	return &cli.Command{
		Name:            "ctr",
		Usage:           "run containerd's ctr against this node's containerd (namespace k8s.io)",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			return exitCode(multicall.RunCtr(append([]string{"ctr"}, c.Args().Slice()...)))
		},
	}
}

// exitCode ends the process with a tool's exit code: the tool has already
// said what went wrong.
func exitCode(code int) error {
	if code != 0 {
		return cli.Exit("", code)
	}
	return nil
}
