package control

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"
)

// Args are a component's command-line flags as name → value, without the
// leading dashes. skiff fills in its defaults; the user's passthrough
// (--kube-apiserver-arg and friends) replaces any of them.
type Args map[string]string

// Merge overlays user-given "name=value" items (a leading "--" is allowed)
// onto a, so that the user always has the last word.
func (a Args) Merge(user []string) error {
	for _, item := range user {
		item = strings.TrimLeft(item, "-")
		name, value, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return fmt.Errorf("%q is not of the form name=value", item)
		}
		a[name] = value
	}
	return nil
}

// DefaultFeatureGate turns gate on or off in --feature-gates unless that
// already names it. It runs after Merge: a user's --feature-gates replaces
// skiff's whole list, and should not lose skiff's defaults for the gates it
// does not mention.
func (a Args) DefaultFeatureGate(gate string, on bool) {
	set := a["feature-gates"]
	for _, item := range strings.Split(set, ",") {
		if name, _, _ := strings.Cut(item, "="); strings.TrimSpace(name) == gate {
			return
		}
	}
	if set != "" {
		set += ","
	}
	a["feature-gates"] = set + gate + "=" + strconv.FormatBool(on)
}

// List renders the flags sorted by name, for parsing and for logs.
func (a Args) List() []string {
	out := make([]string, 0, len(a))
	for name, value := range a {
		out = append(out, "--"+name+"="+value)
	}
	sort.Strings(out)
	return out
}

// parse applies the args to the component's own flag sets, the same ones its
// command registers, so every upstream flag is accepted and validated as
// upstream does.
func parse(component string, sets cliflag.NamedFlagSets, args Args) error {
	fs := pflag.NewFlagSet(component, pflag.ContinueOnError)
	fs.SetOutput(discard{})
	for _, name := range sets.Order {
		fs.AddFlagSet(sets.FlagSets[name])
	}
	if err := fs.Parse(args.List()); err != nil {
		return fmt.Errorf("parsing %s flags: %w", component, err)
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
