package containerd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRegistriesMissingFileIsEmpty(t *testing.T) {
	r, err := LoadRegistries(filepath.Join(t.TempDir(), "nope.yaml"))
	if err != nil || len(r.Mirrors) != 0 || len(r.Configs) != 0 {
		t.Fatalf("got %+v, %v", r, err)
	}
}

func TestLoadRegistriesBadYAMLNamesFileAndLine(t *testing.T) {
	p := writeTemp(t, "registries.yaml", "mirrors:\n  docker.io:\n    endpoint:\n      - \"https://m\"\n   bad: [\n")
	_, err := LoadRegistries(p)
	if err == nil {
		t.Fatal("expected an error")
	}
	if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line ") {
		t.Fatalf("error %q should name %s and a line", err, p)
	}
	if strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("error should be one line: %q", err)
	}
}

func TestLoadRegistriesBadEndpoint(t *testing.T) {
	p := writeTemp(t, "registries.yaml", "mirrors:\n  docker.io:\n    endpoint: [\"ftp://x\"]\n")
	if _, err := LoadRegistries(p); err == nil || !strings.Contains(err.Error(), "ftp://x") {
		t.Fatalf("got %v", err)
	}
}

const sampleRegistries = `
mirrors:
  docker.io:
    endpoint:
      - "https://mirror.example.com:5000"
      - "http://10.0.0.1:5000/cache"
  registry.local:5000:
    endpoint: ["registry.local:5000"]
  "*":
    endpoint: ["https://catchall.example.com"]
configs:
  "mirror.example.com:5000":
    auth:
      username: alice
      password: s3cr"et
    tls:
      ca_file: /etc/ssl/mirror-ca.pem
      cert_file: /etc/ssl/client.pem
      key_file: /etc/ssl/client-key.pem
  registry.local:5000:
    tls:
      insecure_skip_verify: true
`

func TestHostsFiles(t *testing.T) {
	r, err := LoadRegistries(writeTemp(t, "registries.yaml", sampleRegistries))
	if err != nil {
		t.Fatal(err)
	}
	files, err := r.HostsFiles()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	want := map[string]bool{"docker.io/hosts.toml": true, "registry.local:5000/hosts.toml": true, "_default/hosts.toml": true, "mirror.example.com:5000/hosts.toml": true}
	if len(files) != len(want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	for n := range want {
		if _, ok := files[n]; !ok {
			t.Fatalf("no %s in %v", n, names)
		}
	}

	docker := string(files["docker.io/hosts.toml"])
	var parsed struct {
		Server string
		Host   map[string]struct {
			Capabilities []string
			CA           string     `toml:"ca"`
			Client       [][]string `toml:"client"`
			SkipVerify   bool       `toml:"skip_verify"`
		}
	}
	if err := toml.Unmarshal([]byte(docker), &parsed); err != nil {
		t.Fatalf("docker.io hosts.toml does not parse: %v\n%s", err, docker)
	}
	if parsed.Server != "https://registry-1.docker.io" {
		t.Errorf("server = %q", parsed.Server)
	}
	m := parsed.Host["https://mirror.example.com:5000"]
	if m.CA != "/etc/ssl/mirror-ca.pem" || len(m.Client) != 1 || m.Client[0][1] != "/etc/ssl/client-key.pem" {
		t.Errorf("mirror TLS not carried: %+v\n%s", m, docker)
	}
	if _, ok := parsed.Host["http://10.0.0.1:5000/cache"]; !ok {
		t.Errorf("http mirror with a path missing:\n%s", docker)
	}
	// Mirrors in the user's order: containerd tries them in file order.
	if strings.Index(docker, "mirror.example.com") > strings.Index(docker, "10.0.0.1") {
		t.Errorf("mirror order lost:\n%s", docker)
	}

	local := string(files["registry.local:5000/hosts.toml"])
	if !strings.Contains(local, `server = 'https://registry.local:5000'`) && !strings.Contains(local, `server = "https://registry.local:5000"`) {
		t.Errorf("local server wrong:\n%s", local)
	}
	if !strings.Contains(local, "skip_verify = true") {
		t.Errorf("insecure_skip_verify not carried:\n%s", local)
	}
	if def := string(files["_default/hosts.toml"]); strings.Contains(def, "server") || !strings.Contains(def, "catchall.example.com") {
		t.Errorf("_default wrong:\n%s", def)
	}

	auths := r.Auths()
	if len(auths) != 1 || auths[0].Host != "mirror.example.com:5000" || auths[0].Username != "alice" {
		t.Fatalf("auths = %+v", auths)
	}
}

func TestWriteHostsDirReplacesOld(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs.d")
	if err := os.MkdirAll(filepath.Join(dir, "old.example.com"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := &Registries{Mirrors: map[string]Mirror{"docker.io": {Endpoints: []string{"https://m.example.com"}}}}
	if err := writeHostsDir(dir, r); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "old.example.com")); !os.IsNotExist(err) {
		t.Errorf("old host dir survived: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "docker.io", "hosts.toml")); err != nil {
		t.Error(err)
	}
}
