package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// DefaultConfigFile is read when it exists and no other file is named.
const DefaultConfigFile = "/etc/skiff/config.yaml"

func configFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "config",
		Aliases: []string{"c"},
		Value:   DefaultConfigFile,
		EnvVars: []string{"SKIFF_CONFIG_FILE"},
		Usage:   "YAML file whose keys are flag names; the command line and SKIFF_* variables win over it",
	}
}

// applyConfigFile sets every flag that the command line and the environment
// left unset from the config file, as k3s does: keys are long flag names,
// lists are YAML lists. An unknown key or a file that does not parse stops
// the command before it does anything.
func applyConfigFile(c *cli.Context) error {
	return applyConfig(c, true)
}

// applyKnownConfigKeys is applyConfigFile for a command that takes a few of
// the roles' flags (check-config): it reads the same file as the service,
// and the keys it has no flag for are the server's or the agent's, not
// mistakes.
func applyKnownConfigKeys(c *cli.Context) error {
	return applyConfig(c, false)
}

func applyConfig(c *cli.Context, strict bool) error {
	path := c.String("config")
	values, err := readConfigFile(path)
	if errors.Is(err, fs.ErrNotExist) && !c.IsSet("config") {
		return nil // the default file is optional
	}
	if err != nil {
		return err
	}
	known := map[string]cli.Flag{}
	for _, f := range c.Command.Flags {
		known[f.Names()[0]] = f
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		flag, ok := known[key]
		if !ok && !strict {
			continue
		}
		if !ok || key == "config" {
			n := values[key]
			return fmt.Errorf("config file %s: line %d: unknown key %q; keys are the long names of 'skiff %s' flags (see --help)",
				path, n.Line, key, c.Command.Name)
		}
		if c.IsSet(key) {
			continue // the command line or the environment said it
		}
		items, err := configValues(values[key])
		if err != nil {
			return fmt.Errorf("config file %s: key %q: %v", path, key, err)
		}
		if _, isList := flag.(*cli.StringSliceFlag); !isList && len(items) != 1 {
			return fmt.Errorf("config file %s: line %d: key %q takes one value, not a list", path, values[key].Line, key)
		}
		for _, item := range items {
			if err := c.Set(key, item); err != nil {
				return fmt.Errorf("config file %s: key %q: %v", path, key, err)
			}
		}
	}
	return nil
}

// readConfigFile parses the file into flag name → YAML node. Nodes keep
// scalars as written (a mode of 0644 stays "0644", not 420) and their line
// numbers; the parser's own errors carry the line too.
func readConfigFile(path string) (map[string]yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config file %s does not exist: %w", path, err)
		}
		return nil, fmt.Errorf("reading config file %s: %w", path, err)
	}
	values := map[string]yaml.Node{}
	if err := yaml.Unmarshal(data, &values); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
		return nil, fmt.Errorf("config file %s is not valid YAML: %s", path, msg)
	}
	return values, nil
}

// configValues renders a YAML scalar or list as the strings a flag parses.
func configValues(n yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, fmt.Errorf("line %d: has no value", n.Line)
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: list items must be plain values", item.Line)
			}
			out = append(out, item.Value)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("line %d: must be a value or a list, not a mapping", n.Line)
	}
}
