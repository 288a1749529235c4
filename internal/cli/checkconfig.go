package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/skiff-k8s/skiff/internal/checkconfig"
)

// checkConfigCommand is `skiff check-config`. Its flags are the few server
// and agent flags that change what is checked, under the same names, the
// same SKIFF_* variables and the same config file, so that it checks the
// data dir and ports the service will use.
func checkConfigCommand() *cli.Command {
	return &cli.Command{
		Name:  "check-config",
		Usage: "check that this host can run skiff: kernel, cgroups, iptables, forwarding, swap, ports, disk",
		Description: "Prints one line per check: ok; warning, when skiff runs anyway; or missing, when it\n" +
			"cannot; each with what to do. Exits with status 1 when something is missing. The server\n" +
			"and agent make the fast ones of these checks at every start.",
		Flags: withEnv([]cli.Flag{
			configFlag(),
			&cli.StringFlag{Name: "role", Value: "server", Usage: "what will run here: server (with its node, unless --disable-agent) or agent"},
			&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Value: "/var/lib/skiff", Usage: "skiff's data dir, whose free space is checked"},
			&cli.IntFlag{Name: "https-listen-port", Value: 6443, Usage: "the server's https port; the two after it are checked too"},
			&cli.StringFlag{Name: "bind-address", Usage: "address the server's https port listens on (default: all)"},
			&cli.BoolFlag{Name: "disable-agent", Usage: "the server runs no node: the node's checks do not apply"},
			&cli.StringFlag{Name: "flannel-backend", Value: "vxlan", Usage: "the server's pod network: vxlan, host-gw, or none"},
			&cli.BoolFlag{Name: "disable-kube-proxy", Usage: "the server's node runs no kube-proxy"},
			&cli.StringSliceFlag{Name: "disable", Usage: "built-in addons the server leaves out (without metrics-server its port is not needed)"},
			&cli.StringSliceFlag{Name: "kubelet-arg", Usage: "the node's --kubelet-arg items; port, address and healthz-port move the kubelet's ports"},
			&cli.StringSliceFlag{Name: "kube-proxy-arg", Usage: "the node's --kube-proxy-arg items; healthz-bind-address and metrics-bind-address move kube-proxy's"},
			&cli.IntFlag{Name: "lb-server-port", Value: 6444, Usage: "the agent's load balancer port"},
		}),
		Before:       applyKnownConfigKeys,
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError(c, errUnexpectedArgs(c.Args().Slice()), false)
			}
			opts, err := checkOptions(c)
			if err != nil {
				return err
			}
			missing := 0
			for _, r := range checkconfig.Run(opts) {
				fmt.Fprintln(c.App.Writer, r)
				if r.Status == checkconfig.Missing {
					missing++
				}
			}
			switch missing {
			case 0:
				return nil
			case 1:
				return fmt.Errorf("1 required check failed: see the line marked missing")
			default:
				return fmt.Errorf("%d required checks failed: see the lines marked missing", missing)
			}
		},
	}
}

// checkOptions says what will run, from the flags of check-config.
func checkOptions(c *cli.Context) (checkconfig.Options, error) {
	o := checkconfig.Options{
		DataDir:       c.String("data-dir"),
		KubeletArgs:   c.StringSlice("kubelet-arg"),
		KubeProxyArgs: c.StringSlice("kube-proxy-arg"),
	}
	switch role := c.String("role"); role {
	case "server":
		o.Node = !c.Bool("disable-agent")
		o.Backend = c.String("flannel-backend")
		o.KubeProxy = !c.Bool("disable-kube-proxy")
		o.HTTPSPort = c.Int("https-listen-port")
		o.BindAddress = c.String("bind-address")
		o.MetricsServer = !listHas(c.StringSlice("disable"), "metrics-server")
	case "agent":
		// The backend comes from the server at join; kube-proxy always runs.
		o.Node, o.KubeProxy = true, true
		o.LBPort = c.Int("lb-server-port")
	default:
		return o, usageError(c, fmt.Errorf("--role %q is neither server nor agent", role), false)
	}
	return o, nil
}

// listHas says whether a repeatable flag that also takes comma-separated
// items (--disable) names s.
func listHas(items []string, s string) bool {
	for _, item := range items {
		for _, part := range strings.Split(item, ",") {
			if strings.TrimSpace(part) == s {
				return true
			}
		}
	}
	return false
}
