package cli

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/urfave/cli/v2"
)

// envName is the variable that sets a flag: SKIFF_ and the flag's name in
// upper case with underscores (--data-dir is SKIFF_DATA_DIR).
func envName(flag string) string {
	return "SKIFF_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// withEnv gives every flag its SKIFF_* variable, so the rule holds for all
// flags without being written out for each. k3s's SKIFF_URL for --server is
// added where that flag is defined.
func withEnv(flags []cli.Flag, more ...cli.Flag) []cli.Flag {
	flags = append(flags, more...)
	for _, f := range flags {
		v := reflect.ValueOf(f).Elem().FieldByName("EnvVars")
		if !v.IsValid() {
			panic(fmt.Sprintf("flag %v has no EnvVars field", f.Names()))
		}
		name := envName(f.Names()[0])
		existing := v.Interface().([]string)
		if !contains(existing, name) {
			v.Set(reflect.ValueOf(append(existing, name)))
		}
	}
	return flags
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func errUnexpectedArgs(args []string) error {
	return fmt.Errorf("unexpected arguments %q", args)
}
