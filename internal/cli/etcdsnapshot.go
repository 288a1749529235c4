package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-k8s/skiff/internal/snapshot"
)

// etcdSnapshotCommand is `skiff etcd-snapshot`, under k3s's name so that k3s
// users' habits work. It copies whichever store the data dir holds: the
// embedded etcd, or the SQLite database (which k3s cannot snapshot).
func etcdSnapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "etcd-snapshot",
		Usage: "save, list, delete and prune snapshots of the cluster's store (embedded etcd or SQLite)",
		Description: "Snapshots are files <name>-<node-name>-<unix time> in <data-dir>/server/db/snapshots\n" +
			"(or --etcd-snapshot-dir). 'save' copies the store while the server runs. Restore one with\n" +
			"'skiff server --cluster-reset --cluster-reset-restore-path <file>' on the stopped server.",
		OnUsageError: snapshotUsageError,
		Subcommands: []*cli.Command{
			snapshotSaveCommand(), snapshotListCommand(), snapshotDeleteCommand(), snapshotPruneCommand(),
		},
	}
}

// snapshotFlags are every subcommand's: where the store and the snapshots
// are, from the same flags, SKIFF_* variables and config file as the
// server's, so that the commands work on the service's data dir unasked.
func snapshotFlags(more ...cli.Flag) []cli.Flag {
	return withEnv([]cli.Flag{
		configFlag(),
		&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Value: "/var/lib/skiff", Usage: "the server's data dir"},
		&cli.StringFlag{Name: "etcd-snapshot-dir", Usage: "folder of the snapshots (default: <data-dir>/server/db/snapshots)"},
		&cli.StringFlag{Name: "node-name", Usage: "this server's node name, part of the file names (default: the host name)"},
	}, more...)
}

func snapshotCommand(name, usage, argsUsage string, flags []cli.Flag, action cli.ActionFunc) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: argsUsage,
		Flags:     snapshotFlags(flags...),
		// The config file is the server's: its other keys are not errors.
		Before:       applyKnownConfigKeys,
		OnUsageError: snapshotUsageError,
		Action:       action,
	}
}

func snapshotSaveCommand() *cli.Command {
	return snapshotCommand("save", "copy the store into a new snapshot", " ",
		[]cli.Flag{&cli.StringFlag{Name: "name", Value: snapshot.OnDemandName, Usage: "first part of the file name"}},
		func(c *cli.Context) error {
			if c.NArg() > 0 {
				return snapshotUsageError(c, errUnexpectedArgs(c.Args().Slice()), false)
			}
			if err := snapshot.CheckName(c.String("name")); err != nil {
				return fmt.Errorf("--name: %w", err)
			}
			node, err := snapshotNodeName(c)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			begin := time.Now()
			info, err := snapshot.Store{DataDir: c.String("data-dir")}.Save(ctx, snapshot.SaveOptions{
				Dir: snapshotDir(c), Name: c.String("name"), NodeName: node,
			})
			if err != nil {
				return fmt.Errorf("saving a snapshot: %w", err)
			}
			fmt.Fprintf(c.App.Writer, "Snapshot %s saved to %s (%d bytes, %s)\n", info.Name, info.Path(), info.Size, time.Since(begin).Round(time.Millisecond))
			return nil
		})
}

func snapshotListCommand() *cli.Command {
	cmd := snapshotCommand("ls", "list the snapshots", " ", nil, func(c *cli.Context) error {
		if c.NArg() > 0 {
			return snapshotUsageError(c, errUnexpectedArgs(c.Args().Slice()), false)
		}
		list, err := snapshot.List(snapshotDir(c), "")
		if err != nil {
			return err
		}
		// k3s's columns.
		w := tabwriter.NewWriter(c.App.Writer, 0, 8, 1, ' ', 0)
		fmt.Fprintln(w, "Name\tLocation\tSize\tCreated")
		for _, i := range list {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", i.Name, i.Location, i.Size, i.CreatedAt.Format(time.RFC3339))
		}
		return w.Flush()
	})
	cmd.Aliases = []string{"list"}
	return cmd
}

func snapshotDeleteCommand() *cli.Command {
	return snapshotCommand("delete", "delete snapshots by name", "<name>...", nil, func(c *cli.Context) error {
		names := c.Args().Slice()
		if len(names) == 0 {
			return snapshotUsageError(c, errors.New("no snapshot name given; 'skiff etcd-snapshot ls' lists them"), false)
		}
		for _, n := range names {
			if strings.HasPrefix(n, "-") {
				// urfave/cli stops reading flags at the first argument.
				return snapshotUsageError(c, fmt.Errorf("%q comes after a snapshot name; flags go before the names", n), false)
			}
		}
		deleted, err := snapshot.Delete(snapshotDir(c), names)
		for _, n := range deleted {
			fmt.Fprintf(c.App.Writer, "Snapshot %s deleted\n", n)
		}
		return err
	})
}

func snapshotPruneCommand() *cli.Command {
	return snapshotCommand("prune", "delete all but the newest snapshots of a name", " ",
		[]cli.Flag{
			&cli.StringFlag{Name: "name", Value: snapshot.OnDemandName, Usage: "prune the snapshots <name>-<node-name>-*"},
			&cli.IntFlag{Name: "snapshot-retention", Value: 5, Usage: "how many of them to keep"},
		},
		func(c *cli.Context) error {
			if c.NArg() > 0 {
				return snapshotUsageError(c, errUnexpectedArgs(c.Args().Slice()), false)
			}
			if err := snapshot.CheckName(c.String("name")); err != nil {
				return fmt.Errorf("--name: %w", err)
			}
			keep := c.Int("snapshot-retention")
			if keep < 1 {
				return fmt.Errorf("--snapshot-retention %d would delete every snapshot; give 1 or more ('skiff etcd-snapshot delete' removes single ones)", keep)
			}
			node, err := snapshotNodeName(c)
			if err != nil {
				return err
			}
			deleted, err := snapshot.Prune(snapshotDir(c), snapshot.Prefix(c.String("name"), node), keep)
			for _, n := range deleted {
				fmt.Fprintf(c.App.Writer, "Snapshot %s deleted\n", n)
			}
			return err
		})
}

func snapshotDir(c *cli.Context) string {
	if d := c.String("etcd-snapshot-dir"); d != "" {
		return d
	}
	return snapshot.DefaultDir(c.String("data-dir"))
}

// snapshotNodeName is the server's node name as `skiff server` finds it:
// --node-name (often in the config file), else the host name.
func snapshotNodeName(c *cli.Context) (string, error) {
	if n := c.String("node-name"); n != "" {
		return n, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("finding the host name (%v); set --node-name", err)
	}
	return strings.ToLower(host), nil
}

// snapshotUsageError is usageError for the subcommands, whose help is
// under 'skiff etcd-snapshot <command>'.
func snapshotUsageError(c *cli.Context, err error, _ bool) error {
	name := "skiff etcd-snapshot"
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != "etcd-snapshot" {
		name += " " + c.Command.Name
	}
	return fmt.Errorf("%v (see '%s --help')", err, name)
}
