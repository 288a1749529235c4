package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/skiff-k8s/skiff/internal/agent"
)

// agentFlags are named as in k3s; SKIFF_URL and SKIFF_TOKEN are what an
// install script or a container passes.
func agentFlags() []cli.Flag {
	return withEnv([]cli.Flag{
		configFlag(),
		&cli.StringFlag{Name: "server", Aliases: []string{"s"}, EnvVars: []string{"SKIFF_URL"}, Usage: "a server to join, https://<server>:6443"},
		&cli.StringFlag{Name: "token", Aliases: []string{"t"}, Usage: "the server's token or agent token, or one from `skiff token create`"},
		&cli.StringFlag{Name: "token-file", Usage: "read the token from this file"},
		&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Value: "/var/lib/skiff", Usage: "folder for state: certificates, node identity, images"},
		&cli.BoolFlag{Name: "with-node-id", Usage: "append a random id, kept in the data dir, to the node name"},
		&cli.IntFlag{Name: "lb-server-port", Value: 6444, Usage: "loopback port of the load balancer in front of the servers"},
	}, append(nodeFlags("the default route's interface"), logFlags()...)...)
}

func agentCommand() *cli.Command {
	return roleCommand("agent", "run a node that joins a server", agentFlags(),
		func(c *cli.Context) error {
			tok, err := tokenFrom(c.String("token"), c.String("token-file"))
			if err != nil {
				return err
			}
			cfg := agent.JoinConfig{
				DataDir:         c.String("data-dir"),
				ServerURL:       c.String("server"),
				Token:           tok,
				NodeName:        c.String("node-name"),
				WithNodeID:      c.Bool("with-node-id"),
				NodeIP:          c.String("node-ip"),
				NodeLabels:      c.StringSlice("node-label"),
				NodeTaints:      c.StringSlice("node-taint"),
				KubeletArgs:     c.StringSlice("kubelet-arg"),
				KubeProxyArgs:   c.StringSlice("kube-proxy-arg"),
				PrivateRegistry: c.String("private-registry"),
				ResolvConf:      c.String("resolv-conf"),
				LBPort:          c.Int("lb-server-port"),
			}
			ctx, stop := signalContext()
			defer stop()
			return agent.Run(ctx, cfg)
		})
}

// nodeFlags are what a server's node and an agent both take: what makes
// this node different from the others.
func nodeFlags(defaultIP string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "node-name", Usage: "this node's name (default: the host name)"},
		&cli.StringFlag{Name: "node-ip", Usage: "this node's IP address (default: " + defaultIP + ")"},
		&cli.StringSliceFlag{Name: "node-label", Usage: "label for this node, key=value (repeatable)"},
		&cli.StringSliceFlag{Name: "node-taint", Usage: "taint for this node, key=value:Effect (repeatable)"},
		&cli.StringSliceFlag{Name: "kubelet-arg", Usage: "extra kubelet flag as name=value (repeatable)"},
		&cli.StringSliceFlag{Name: "kube-proxy-arg", Usage: "extra kube-proxy flag as name=value (repeatable)"},
		&cli.StringFlag{Name: "resolv-conf", Usage: "resolv.conf for pods with dnsPolicy Default and for cluster DNS's upstream servers (default: /etc/resolv.conf, or systemd-resolved's upstream file when that points at a loopback resolver)"},
		&cli.StringFlag{Name: "private-registry", Value: "/etc/skiff/registries.yaml", Usage: "registry mirrors and credentials, in k3s's registries.yaml format"},
	}
}

// tokenFrom takes the token from the flag or, failing that, the file.
func tokenFrom(flagValue, file string) (string, error) {
	if flagValue != "" || file == "" {
		return flagValue, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
