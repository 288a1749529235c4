package addons

import (
	"strings"
	"testing"
)

func TestParseDisabled(t *testing.T) {
	for _, c := range []struct {
		items []string
		want  []string
		bad   string
	}{
		{items: nil},
		{items: []string{"coredns"}, want: []string{"coredns"}},
		{items: []string{"coredns,servicelb", "metrics-server"}, want: []string{"coredns", "servicelb", "metrics-server"}},
		{items: []string{" local-storage , "}, want: []string{"local-storage"}},
		{items: []string{"traefik"}, want: []string{"traefik"}},
		// No Helm controller, no chart installed: Traefik goes too (k3s).
		{items: []string{"helm-controller"}, want: []string{"helm-controller", "traefik"}},
		{items: []string{"ingress"}, bad: `--disable "ingress" is not a built-in addon; valid names are coredns, local-storage, servicelb, metrics-server, traefik, helm-controller`},
		{items: []string{"coredns,dns"}, bad: `"dns"`},
	} {
		d, err := ParseDisabled(c.items)
		if c.bad != "" {
			if err == nil || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("ParseDisabled(%q) = %v, want an error containing %s", c.items, err, c.bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDisabled(%q): %v", c.items, err)
			continue
		}
		if len(d) != len(c.want) {
			t.Errorf("ParseDisabled(%q) = %v, want %v", c.items, d, c.want)
		}
		for _, name := range c.want {
			if !d.Has(name) {
				t.Errorf("ParseDisabled(%q) lacks %s", c.items, name)
			}
		}
	}
}
