package launcher

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDataDir(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(config, []byte("data-dir: /srv/from-config\ntoken: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noConfig := filepath.Join(t.TempDir(), "absent.yaml")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", []string{"skiff", "server"}, map[string]string{"SKIFF_CONFIG_FILE": noConfig}, DefaultDataDir},
		{"long flag", []string{"/usr/local/bin/skiff", "server", "--data-dir", "/srv/a"}, nil, "/srv/a"},
		{"long flag with =", []string{"skiff", "agent", "--data-dir=/srv/b"}, nil, "/srv/b"},
		{"short flag", []string{"skiff", "server", "-d", "/srv/c"}, nil, "/srv/c"},
		{"environment", []string{"skiff", "server"}, map[string]string{"SKIFF_DATA_DIR": "/srv/env"}, "/srv/env"},
		{"flag wins over environment", []string{"skiff", "server", "-d=/srv/f"}, map[string]string{"SKIFF_DATA_DIR": "/srv/env"}, "/srv/f"},
		{"config file flag", []string{"skiff", "server", "--config", config}, nil, "/srv/from-config"},
		{"config file variable", []string{"skiff", "server"}, map[string]string{"SKIFF_CONFIG_FILE": config}, "/srv/from-config"},
		{"after --", []string{"skiff", "server", "--", "-d", "/srv/no"}, map[string]string{"SKIFF_CONFIG_FILE": noConfig}, DefaultDataDir},
		{"kubectl's flags are its own", []string{"kubectl", "-d", "/srv/no"}, map[string]string{"SKIFF_CONFIG_FILE": noConfig}, DefaultDataDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dataDir(tc.args, func(k string) string { return tc.env[k] })
			if got != tc.want {
				t.Errorf("dataDir(%q) = %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}
