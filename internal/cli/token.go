package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-k8s/skiff/internal/token"
)

// defaultAdminKubeconfig is where skiff server writes the admin kubeconfig
// unless told otherwise (--write-kubeconfig).
const defaultAdminKubeconfig = "/etc/skiff/skiff.yaml"

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "create, list and delete bootstrap tokens that join agents",
		Description: "Bootstrap tokens (kubeadm's <id>.<secret>) are Secrets bootstrap-token-<id> in kube-system.\n" +
			"'skiff token create' prints one in the full form K10<CA hash>::<id>.<secret>, which\n" +
			"'skiff agent --token' takes. They join agents only, and stop working when they expire\n" +
			"or are deleted; agents that joined keep their own credentials.",
		OnUsageError: usageError,
		Subcommands:  []*cli.Command{tokenCreateCommand(), tokenListCommand(), tokenDeleteCommand()},
	}
}

// tokenFlags are the flags every token command has: how to reach the
// cluster.
func tokenFlags(more ...cli.Flag) []cli.Flag {
	return withEnv([]cli.Flag{
		&cli.StringFlag{
			Name:    "kubeconfig",
			Value:   defaultAdminKubeconfig,
			EnvVars: []string{"SKIFF_KUBECONFIG", "KUBECONFIG"},
			Usage:   "admin kubeconfig of the cluster; when not given and the default is missing, <data-dir>/server/cred/admin.kubeconfig",
		},
		&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Value: "/var/lib/skiff", Usage: "the server's data dir"},
	}, more...)
}

func tokenCreateCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a bootstrap token and print it (K10<CA hash>::<id>.<secret>)",
		ArgsUsage: " ",
		Flags: tokenFlags(
			&cli.DurationFlag{Name: "ttl", Value: 24 * time.Hour, Usage: "how long the token works; 0 for ever"},
			&cli.StringFlag{Name: "description", Usage: "what the token is for, shown by 'skiff token list'"},
		),
		OnUsageError: tokenUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return tokenUsageError(c, errUnexpectedArgs(c.Args().Slice()), false)
			}
			ttl, desc := c.Duration("ttl"), c.String("description")
			if err := token.CheckCreate(ttl, ""); err != nil {
				return fmt.Errorf("--ttl: %w", err)
			}
			if err := token.CheckCreate(0, desc); err != nil {
				return fmt.Errorf("--description: %w", err)
			}
			admin, err := openAdmin(c)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			// The CA first: a token is made only once it can be printed whole.
			ca, err := admin.CAPEM(ctx)
			if err != nil {
				return err
			}
			id, secret, err := token.Create(ctx, admin.Client, ttl, desc)
			if err != nil {
				return fmt.Errorf("%w (server %s, kubeconfig %s)", err, admin.Host, admin.Kubeconfig)
			}
			full := token.Token{CAHash: token.CAHash(ca), Password: id + "." + secret}
			_, err = fmt.Fprintln(c.App.Writer, full.String())
			return err
		},
	}
}

func tokenListCommand() *cli.Command {
	return &cli.Command{
		Name:         "list",
		Usage:        "list the bootstrap tokens",
		ArgsUsage:    " ",
		Flags:        tokenFlags(),
		OnUsageError: tokenUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return tokenUsageError(c, errUnexpectedArgs(c.Args().Slice()), false)
			}
			admin, err := openAdmin(c)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			list, err := token.List(ctx, admin.Client)
			if err != nil {
				return fmt.Errorf("%w (server %s, kubeconfig %s)", err, admin.Host, admin.Kubeconfig)
			}
			now := time.Now()
			w := tabwriter.NewWriter(c.App.Writer, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "TOKEN ID\tTTL\tEXPIRES\tDESCRIPTION")
			for _, b := range list {
				ttl, expires := "<forever>", "<never>"
				if !b.Expires.IsZero() {
					expires = b.Expires.UTC().Format(time.RFC3339)
					if b.Expired(now) {
						ttl = "<expired>"
					} else {
						ttl = duration.ShortHumanDuration(b.Expires.Sub(now))
					}
				}
				desc := b.Description
				if desc == "" {
					desc = "<none>"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", b.ID, ttl, expires, desc)
			}
			return w.Flush()
		},
	}
}

func tokenDeleteCommand() *cli.Command {
	return &cli.Command{
		Name:         "delete",
		Usage:        "delete bootstrap tokens by ID",
		ArgsUsage:    "<id>...",
		Flags:        tokenFlags(),
		OnUsageError: tokenUsageError,
		Action: func(c *cli.Context) error {
			ids := c.Args().Slice()
			if len(ids) == 0 {
				return tokenUsageError(c, errors.New("no token ID given; 'skiff token list' shows them"), false)
			}
			// Every ID is checked before any token goes.
			for i, id := range ids {
				if strings.HasPrefix(id, "-") {
					// urfave/cli stops reading flags at the first argument.
					return tokenUsageError(c, fmt.Errorf("%q comes after a token ID; flags go before the token IDs", id), false)
				}
				// "abcdef.0123456789abcdef" names its token, too.
				if tid, _, ok := token.SplitBootstrap(id); ok {
					ids[i] = tid
				} else if err := token.CheckBootstrapID(id); err != nil {
					return err
				}
			}
			admin, err := openAdmin(c)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			var missing []string
			for _, id := range ids {
				err := token.Delete(ctx, admin.Client, id)
				if errors.Is(err, token.ErrNoSuchToken) {
					missing = append(missing, id)
					continue
				}
				if err != nil {
					return fmt.Errorf("%w (server %s, kubeconfig %s)", err, admin.Host, admin.Kubeconfig)
				}
				fmt.Fprintf(c.App.Writer, "bootstrap token %q deleted\n", id)
			}
			if len(missing) > 0 {
				return fmt.Errorf("no bootstrap token with ID %s; 'skiff token list' shows the tokens there are", strings.Join(missing, ", "))
			}
			return nil
		},
	}
}

// openAdmin finds the admin kubeconfig: --kubeconfig (or its variables)
// when given; otherwise the server's default one, and failing that the one
// in the data dir, so that a server started with another --write-kubeconfig
// still works without flags.
func openAdmin(c *cli.Context) (*token.Admin, error) {
	path := c.String("kubeconfig")
	if !c.IsSet("kubeconfig") {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			inData := filepath.Join(c.String("data-dir"), "server", "cred", "admin.kubeconfig")
			if _, err := os.Stat(inData); err != nil {
				return nil, fmt.Errorf("no kubeconfig: neither %s nor %s exists; run this on a skiff server, or point --kubeconfig at its admin kubeconfig", path, inData)
			}
			path = inData
		}
	}
	return token.OpenAdmin(path)
}

// tokenUsageError is usageError for the subcommands, whose help is under
// 'skiff token <command>'.
func tokenUsageError(c *cli.Context, err error, _ bool) error {
	name := "skiff token"
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != "token" {
		name += " " + c.Command.Name
	}
	return fmt.Errorf("%v (see '%s --help')", err, name)
}
