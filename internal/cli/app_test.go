package cli

import (
	"io"
	"reflect"
	"testing"

	"github.com/urfave/cli/v2"
)

// A component flag keeps its commas: feature-gates and controllers lists
// are one --*-arg each, and a repeated flag adds an item.
func TestRepeatableFlagsKeepCommas(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	var got []string
	for _, c := range app.Commands {
		if c.Name == "server" {
			c.Before = nil
			c.Action = func(c *cli.Context) error {
				got = c.StringSlice("kube-controller-manager-arg")
				return nil
			}
		}
	}
	args := []string{"skiff", "server",
		"--kube-controller-manager-arg=controllers=*,tokencleaner",
		"--kube-controller-manager-arg", "feature-gates=A=true,B=false"}
	if err := app.Run(args); err != nil {
		t.Fatal(err)
	}
	want := []string{"controllers=*,tokencleaner", "feature-gates=A=true,B=false"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("--kube-controller-manager-arg items = %q, want %q", got, want)
	}
}
