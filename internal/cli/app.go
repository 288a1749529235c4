package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/urfave/cli/v2"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/kubectl"
	"github.com/skiff-k8s/skiff/internal/version"
)

// Main runs the command line and returns the process's exit code. Every
// error ends as one line on stderr that says what is wrong.
func Main(args []string) int {
	app := newApp(os.Stdout, os.Stderr)
	if err := app.Run(args); err != nil {
		fmt.Fprintf(os.Stderr, "skiff: %v\n", err)
		klog.Flush()
		return 1
	}
	klog.Flush()
	return 0
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                 "skiff",
		Usage:                "upstream Kubernetes in one small binary",
		Version:              version.String(),
		Writer:               stdout,
		ErrWriter:            stderr,
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		OnUsageError:         usageError,
		// Each occurrence of a repeatable flag is one item, as in k3s:
		// component flags carry commas of their own
		// (--kube-apiserver-arg=feature-gates=A=true,B=false).
		DisableSliceFlagSeparator: true,
		Commands: []*cli.Command{
			serverCommand(),
			agentCommand(),
			tokenCommand(),
			killallCommand(),
			checkConfigCommand(),
			etcdSnapshotCommand(),
			{
				Name:            "kubectl",
				Usage:           "run kubectl against this cluster",
				SkipFlagParsing: true,
				Action: func(c *cli.Context) error {
					kubectl.Main(c.Args().Slice())
					return nil
				},
			},
			crictlCommand(), ctrCommand(),
		},
	}
}

// usageError turns urfave's usage errors into one line that says where to
// look, instead of the whole help text.
func usageError(c *cli.Context, err error, _ bool) error {
	name := "skiff"
	if c.Command != nil && c.Command.Name != "" {
		name += " " + c.Command.Name
	}
	return fmt.Errorf("%v (see '%s --help')", err, name)
}

// signalContext ends on SIGTERM or SIGINT; that is how the roles learn to
// stop cleanly.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// logFlags are the logging flags every long-running command has.
func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "v", Usage: "log verbosity (klog level)", EnvVars: []string{"SKIFF_V"}},
		&cli.StringFlag{Name: "vmodule", Usage: "per-file log verbosity, e.g. server=2", EnvVars: []string{"SKIFF_VMODULE"}},
	}
}

// roleCommand is a command that runs a role (server, agent): flags from the
// config file, the environment and the command line, logging set up, and
// no arguments besides flags.
func roleCommand(name, usage string, flags []cli.Flag, run cli.ActionFunc) *cli.Command {
	return &cli.Command{
		Name:         name,
		Usage:        usage,
		Flags:        flags,
		OnUsageError: usageError,
		Before:       applyConfigFile,
		Action: func(c *cli.Context) error {
			if err := setupLogging(c); err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usageError(c, errUnexpectedArgs(c.Args().Slice()), false)
			}
			return run(c)
		},
	}
}

// setupLogging configures klog once for the whole process: the components
// all log through it.
func setupLogging(c *cli.Context) error {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if err := fs.Set("v", strconv.Itoa(c.Int("v"))); err != nil {
		return err
	}
	if vm := c.String("vmodule"); vm != "" {
		if err := fs.Set("vmodule", vm); err != nil {
			return fmt.Errorf("--vmodule: %w", err)
		}
	}
	return nil
}
