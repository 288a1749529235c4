package cli

import (
	"github.com/urfave/cli/v2"

	"github.com/skiff-k8s/skiff/internal/killall"
)

func killallCommand() *cli.Command {
	return &cli.Command{
		Name:  "killall",
		Usage: "stop skiff, its containers and its network on this host, keeping the data dir",
		Description: "Stops the skiff server and agent processes, containerd, the shims and every container\n" +
			"under them; unmounts what they mounted; deletes the cni0 bridge, its veths and the\n" +
			"overlay links; and removes the SKIFF-, KUBE-, CNI- and FLANNEL- iptables chains.\n" +
			"The data dir is left as it is: 'skiff server' afterwards brings every workload back.",
		Flags: withEnv([]cli.Flag{
			&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Value: killall.DefaultDataDir, Usage: "skiff's data dir"},
		}),
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError(c, errUnexpectedArgs(c.Args().Slice()), false)
			}
			ctx, stop := signalContext()
			defer stop()
			return killall.Run(ctx, killall.Options{DataDir: c.String("data-dir"), Out: c.App.Writer})
		},
	}
}
