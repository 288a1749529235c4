//go:build !crictl

package crictl

import (
	"fmt"
	"os"
)

// Main says that this skiff was built without crictl.
func Main([]string) int {
	fmt.Fprintln(os.Stderr, "crictl: this skiff was built without crictl (go build .): build it with scripts/build, which links it in")
	return 1
}
