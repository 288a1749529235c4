//go:build crictl

package crictl

import "os"

// Main runs crictl with args (args[0] is the program name) and returns its
// exit code. crictl's main, generated beside this file, reads os.Args and
// exits 1 itself after printing an error.
func Main(args []string) int {
	os.Args = args
	main()
	return 0
}
