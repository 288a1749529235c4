package multicall

import (
	"os"
	"path/filepath"
)

// The names the binary answers to, as links or through EnvVar.
const (
	Ctr     = "ctr"
	Crictl  = "crictl"
	Kubectl = "kubectl"
)

// EnvVar carries the tool name to re-executions of the binary whose argv0 is
// not a tool name (a tool that re-executes os.Executable(), the real skiff
// path, would otherwise come back as skiff's own command line).
const EnvVar = "SKIFF_MULTICALL"

// DefaultSocket is where skiff's containerd listens; ctr and crictl talk to
// it unless told otherwise.
const DefaultSocket = "/run/skiff/containerd/containerd.sock"

var tools = map[string]bool{Ctr: true, Crictl: true, Kubectl: true}

// Resolve returns the tool the process was called as, or "" for skiff's own
// command line. A known base name of argv0 wins, and is then recorded in
// EnvVar for the process's re-executions; otherwise EnvVar decides.
func Resolve(argv0 string) string {
	if name := filepath.Base(argv0); tools[name] {
		os.Setenv(EnvVar, name) //nolint:errcheck // cannot fail for a valid name
		return name
	}
	if name := os.Getenv(EnvVar); tools[name] {
		return name
	}
	return ""
}
