package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/skiff-k8s/skiff/internal/checkconfig"
)

// checkConfigOptions runs `skiff check-config args...`, with a config file
// holding config, up to the options it would check with.
func checkConfigOptions(t *testing.T, config string, args ...string) (checkconfig.Options, error) {
	t.Helper()
	app := newApp(io.Discard, io.Discard)
	var got checkconfig.Options
	for _, c := range app.Commands {
		if c.Name == "check-config" {
			c.Action = func(c *cli.Context) error {
				var err error
				got, err = checkOptions(c)
				return err
			}
		}
	}
	err := app.Run(append([]string{"skiff", "check-config", "--config", writeConfig(t, config)}, args...))
	return got, err
}

func TestCheckConfigRoles(t *testing.T) {
	o, err := checkConfigOptions(t, "# none\n")
	if err != nil || !o.Node || o.HTTPSPort != 6443 || o.LBPort != 0 || o.Backend != "vxlan" || !o.KubeProxy || !o.MetricsServer || o.DataDir != "/var/lib/skiff" {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	o, err = checkConfigOptions(t, "# none\n", "--disable-agent", "--disable", "coredns,metrics-server", "--https-listen-port", "7443")
	if err != nil || o.Node || o.MetricsServer || o.HTTPSPort != 7443 {
		t.Errorf("a server without a node or metrics-server: %+v, %v", o, err)
	}
	o, err = checkConfigOptions(t, "# none\n", "--role", "agent", "--kubelet-arg", "port=11250")
	if err != nil || !o.Node || o.HTTPSPort != 0 || o.LBPort != 6444 || o.Backend != "" || len(o.KubeletArgs) != 1 {
		t.Errorf("an agent: %+v, %v", o, err)
	}
	if _, err := checkConfigOptions(t, "# none\n", "--role", "worker"); err == nil || !strings.Contains(err.Error(), `--role "worker" is neither server nor agent`) {
		t.Errorf("an unknown role: %v", err)
	}
}

// check-config reads the service's config file, whose keys are mostly the
// server's or the agent's: those it has no flag for are skipped, and the
// ones it has are still checked.
func TestCheckConfigReadsTheServiceConfigFile(t *testing.T) {
	got, err := checkConfigOptions(t, "data-dir: /srv/skiff\nhttps-listen-port: 7443\ntoken: secret\ntls-san:\n  - a.example.com\nkubelet-arg:\n  - port=11250\n")
	if err != nil || got.DataDir != "/srv/skiff" || got.HTTPSPort != 7443 || len(got.KubeletArgs) != 1 {
		t.Errorf("options from the config file: %+v, %v", got, err)
	}
	if _, err := checkConfigOptions(t, "https-listen-port: many\n"); err == nil || !strings.Contains(err.Error(), "https-listen-port") {
		t.Errorf("a bad value of a known key: %v", err)
	}
}
