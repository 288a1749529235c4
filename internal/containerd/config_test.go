package containerd

import (
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

func sampleData() TemplateData {
	return TemplateData{
		Root: "/var/lib/skiff/agent/containerd", State: "/run/skiff/containerd", Socket: DefaultSocket,
		SandboxImage: DefaultSandboxImage, Snapshotter: "overlayfs",
		CNIBinDir: "/var/lib/skiff/data/abc/bin", CNIConfDir: "/var/lib/skiff/agent/etc/cni/net.d",
		SystemdCgroup: false, RestrictOOMScoreAdj: true, HostsDir: "/var/lib/skiff/agent/etc/containerd/certs.d",
		RegistryAuths:   []HostAuth{{Host: "mirror.example.com:5000", RegistryAuth: RegistryAuth{Username: "alice", Password: `p"w\x`}}},
		DisabledPlugins: defaultDisabledPlugins,
	}
}

func TestRenderConfigIsValidTOML(t *testing.T) {
	out, err := RenderConfig("", sampleData())
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := toml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("config does not parse: %v\n%s", err, out)
	}
	if cfg["version"] != int64(3) {
		t.Errorf("version = %v", cfg["version"])
	}
	plugins := cfg["plugins"].(map[string]any)
	rt := plugins["io.containerd.cri.v1.runtime"].(map[string]any)
	if rt["restrict_oom_score_adj"] != true {
		t.Errorf("restrict_oom_score_adj = %v", rt["restrict_oom_score_adj"])
	}
	runc := rt["containerd"].(map[string]any)["runtimes"].(map[string]any)["runc"].(map[string]any)
	if runc["options"].(map[string]any)["SystemdCgroup"] != false {
		t.Errorf("SystemdCgroup wrong: %v", runc)
	}
	img := plugins["io.containerd.cri.v1.images"].(map[string]any)
	if img["snapshotter"] != "overlayfs" || img["pinned_images"].(map[string]any)["sandbox"] != DefaultSandboxImage {
		t.Errorf("images config wrong: %v", img)
	}
	auth := img["registry"].(map[string]any)["configs"].(map[string]any)["mirror.example.com:5000"].(map[string]any)["auth"].(map[string]any)
	if auth["password"] != `p"w\x` {
		t.Errorf("password not quoted right: %q\n%s", auth["password"], out)
	}
}

func TestRenderConfigUserTemplate(t *testing.T) {
	out, err := RenderConfig(`{{ template "base" . }}
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.crun]
  runtime_type = "io.containerd.runc.v2"
# snapshotter {{ .Snapshotter }}
`, sampleData())
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "version = 3") || !strings.Contains(s, "runtimes.crun") || !strings.Contains(s, "# snapshotter overlayfs") {
		t.Fatalf("template not applied:\n%s", s)
	}
	var cfg map[string]any
	if err := toml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("config does not parse: %v\n%s", err, out)
	}
	if _, err := RenderConfig("{{ .Nope }}", sampleData()); err == nil {
		t.Error("a template naming an unknown field should fail")
	}
}

func TestDetectCgroupDriver(t *testing.T) {
	if d := DetectCgroupDriver(); d != CgroupDriverCgroupfs && d != CgroupDriverSystemd {
		t.Fatalf("DetectCgroupDriver() = %q", d)
	}
}
