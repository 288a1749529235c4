package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigValuesKeepScalarsAsWritten(t *testing.T) {
	values, err := readConfigFile(writeConfig(t, "write-kubeconfig-mode: 0644\ntls-san:\n  - a.example.com\n  - 10.0.0.1\ndisable-agent: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]string{
		"write-kubeconfig-mode": {"0644"},
		"tls-san":               {"a.example.com", "10.0.0.1"},
		"disable-agent":         {"true"},
	} {
		got, err := configValues(values[key])
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, %v; want %v", key, got, err, want)
		}
	}
}

func TestConfigFileErrorsNameTheLine(t *testing.T) {
	_, err := readConfigFile(writeConfig(t, "data-dir: /x\n  bad: [\n"))
	if err == nil || !strings.Contains(err.Error(), "line") {
		t.Fatalf("malformed YAML gave %v, want an error with the line", err)
	}
	values, err := readConfigFile(writeConfig(t, "data-dir: /x\nnode-label:\n  nested: map\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := configValues(values["node-label"]); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("a mapping value gave %v, want an error naming line 3", err)
	}
}

func TestEnvNames(t *testing.T) {
	if got := envName("kube-apiserver-arg"); got != "SKIFF_KUBE_APISERVER_ARG" {
		t.Fatalf("envName = %q", got)
	}
}
