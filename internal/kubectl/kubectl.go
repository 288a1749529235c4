// Package kubectl is upstream kubectl, built into skiff and pointed at the
// server's admin kubeconfig when the user has not chosen another.
package kubectl

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

// DefaultKubeconfig is where skiff server writes the admin kubeconfig.
const DefaultKubeconfig = "/etc/skiff/skiff.yaml"

// Main runs kubectl with args (without the program name) and exits.
func Main(args []string) {
	if os.Getenv("KUBECONFIG") == "" {
		if _, err := os.Stat(DefaultKubeconfig); err == nil {
			os.Setenv("KUBECONFIG", DefaultKubeconfig)
		}
	}
	// kubectl reads os.Args itself, as when it is its own binary.
	os.Args = append([]string{"kubectl"}, args...)
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) //nolint:errcheck // best effort, as upstream
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
	os.Exit(0)
}
