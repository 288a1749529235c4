package containerd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"github.com/containerd/containerd/v2/plugins/snapshots/overlay/overlayutils"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// Defaults.
const (
	DefaultDataDir        = "/var/lib/skiff"
	DefaultSocket         = "/run/skiff/containerd/containerd.sock"
	DefaultState          = "/run/skiff/containerd"
	DefaultSandboxImage   = "registry.k8s.io/pause:3.10"
	DefaultRegistriesFile = "/etc/skiff/registries.yaml"
)

// Cgroup drivers, as the kubelet names them.
const (
	CgroupDriverCgroupfs = "cgroupfs"
	CgroupDriverSystemd  = "systemd"
)

// Config says where containerd keeps its files and how it runs containers.
// Empty fields take the defaults documented on each.
type Config struct {
	DataDir string // skiff's data dir; default /var/lib/skiff
	BinDir  string // the bundle's bin dir: runc, CNI plugins, the shim link; required
	Socket  string // containerd's gRPC socket; default /run/skiff/containerd/containerd.sock
	State   string // containerd's state dir; default /run/skiff/containerd
	Root    string // containerd's root; default <DataDir>/agent/containerd
	// ConfigDir holds config.toml, the optional config.toml.tmpl and the
	// registries' hosts dir certs.d; default <DataDir>/agent/etc/containerd.
	ConfigDir      string
	CNIConfDir     string // default <DataDir>/agent/etc/cni/net.d
	CNIBinDir      string // default BinDir
	SandboxImage   string // default registry.k8s.io/pause:3.10
	RegistriesFile string // k3s-format registries; default /etc/skiff/registries.yaml
	LogFile        string // containerd's stdout and stderr; default <DataDir>/agent/containerd/containerd.log
	// CgroupDriver is the kubelet's: "cgroupfs" or "systemd"; default
	// DetectCgroupDriver().
	CgroupDriver string
	// Executable is the containerd binary; default BinDir/containerd.
	Executable string
}

func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.DataDir, DefaultDataDir)
	def(&c.Socket, DefaultSocket)
	def(&c.State, DefaultState)
	def(&c.Root, filepath.Join(c.DataDir, "agent", "containerd"))
	def(&c.ConfigDir, filepath.Join(c.DataDir, "agent", "etc", "containerd"))
	def(&c.CNIConfDir, filepath.Join(c.DataDir, "agent", "etc", "cni", "net.d"))
	def(&c.CNIBinDir, c.BinDir)
	def(&c.SandboxImage, DefaultSandboxImage)
	def(&c.RegistriesFile, DefaultRegistriesFile)
	def(&c.LogFile, filepath.Join(c.DataDir, "agent", "containerd", "containerd.log"))
	def(&c.Executable, filepath.Join(c.BinDir, "containerd"))
	if c.CgroupDriver == "" {
		c.CgroupDriver = DetectCgroupDriver()
	}
	return c
}

// ConfigFile is the config containerd runs with.
func (c Config) ConfigFile() string { return filepath.Join(c.ConfigDir, "config.toml") }

// TemplateFile, when it exists, is rendered over TemplateData in place of
// skiff's own config.
func (c Config) TemplateFile() string { return filepath.Join(c.ConfigDir, "config.toml.tmpl") }

// HostsDir is containerd's registry hosts directory (config_path).
func (c Config) HostsDir() string { return filepath.Join(c.ConfigDir, "certs.d") }

// TemplateData is what config.toml.tmpl is rendered over. The template may
// start from skiff's own config with {{ template "base" . }} and add to it;
// {{ toml .X }} quotes a string for TOML.
type TemplateData struct {
	Root, State, Socket string
	SandboxImage        string
	Snapshotter         string // "overlayfs", or "native" where overlay cannot mount on Root's filesystem
	CNIBinDir           string
	CNIConfDir          string
	SystemdCgroup       bool // the kubelet uses the systemd cgroup driver
	RestrictOOMScoreAdj bool // this host cannot lower oom_score_adj (no CAP_SYS_RESOURCE)
	HostsDir            string
	RegistryAuths       []HostAuth
	DisabledPlugins     []string
}

// baseTemplate is skiff's containerd config.
const baseTemplate = `{{ define "base" -}}
version = 3
root = {{ toml .Root }}
state = {{ toml .State }}
disabled_plugins = [{{ range $i, $p := .DisabledPlugins }}{{ if $i }}, {{ end }}{{ toml $p }}{{ end }}]
required_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = {{ toml .Socket }}

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = {{ .RestrictOOMScoreAdj }}
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = [{{ toml .CNIBinDir }}]
  conf_dir = {{ toml .CNIConfDir }}

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = "runc"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  snapshotter = {{ toml .Snapshotter }}

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = {{ .SystemdCgroup }}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = {{ toml .Snapshotter }}

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = {{ toml .SandboxImage }}

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = {{ toml .HostsDir }}
{{ range .RegistryAuths }}
[plugins.'io.containerd.cri.v1.images'.registry.configs.{{ toml .Host }}.auth]
{{- with .Username }}
  username = {{ toml . }}{{ end }}
{{- with .Password }}
  password = {{ toml . }}{{ end }}
{{- with .Auth }}
  auth = {{ toml . }}{{ end }}
{{- with .IdentityToken }}
  identitytoken = {{ toml . }}{{ end }}
{{ end -}}
{{ end }}{{ template "base" . }}`

// defaultDisabledPlugins cannot work on skiff's nodes or serve no one: the
// block-file and EROFS snapshotters need tools and kernels a node lacks.
var defaultDisabledPlugins = []string{
	"io.containerd.snapshotter.v1.blockfile",
	"io.containerd.snapshotter.v1.erofs",
	"io.containerd.differ.v1.erofs",
}

// quoteTOML returns s as a TOML basic string.
func quoteTOML(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// RenderConfig renders containerd's config: the template text if not
// empty (it may use {{ template "base" . }}), skiff's own otherwise.
func RenderConfig(tmpl string, d TemplateData) ([]byte, error) {
	t, err := template.New("config.toml").Funcs(template.FuncMap{"toml": quoteTOML}).Parse(baseTemplate)
	if err != nil {
		return nil, err
	}
	if tmpl != "" {
		// The user's template replaces the top-level one and keeps "base".
		if t, err = t.New("config.toml.tmpl").Parse(tmpl); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// DetectCgroupDriver returns "systemd" when systemd runs the host
// (/run/systemd/system exists and PID 1 is systemd), else "cgroupfs". The
// kubelet and containerd must agree on it.
func DetectCgroupDriver() string {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return CgroupDriverCgroupfs
	}
	comm, err := os.ReadFile("/proc/1/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "systemd" {
		return CgroupDriverCgroupfs
	}
	return CgroupDriverSystemd
}

// CanLowerOOMScore reports whether this process may lower its
// oom_score_adj as far as runc must for the kubelet's pods (down to -1000).
// Without CAP_SYS_RESOURCE (LXC, some VMs and CI machines) it cannot, and
// containerd must be told restrict_oom_score_adj. It tries, then restores.
func CanLowerOOMScore() bool {
	const path = "/proc/self/oom_score_adj"
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return false
	}
	if cur == -1000 {
		return true
	}
	if err := os.WriteFile(path, []byte("-1000"), 0); err != nil {
		return false
	}
	// Raising it back needs no privilege.
	if err := os.WriteFile(path, []byte(strconv.Itoa(cur)), 0); err != nil {
		klog.ErrorS(err, "Restoring oom_score_adj", "value", cur)
	}
	return true
}

// snapshotterFor returns "overlayfs" when an overlay mounts on root's
// filesystem (tried for real, in a temporary folder under root), else
// "native", saying why.
func snapshotterFor(root string) string {
	if err := overlayutils.Supported(root); err != nil {
		klog.InfoS("Using the native snapshotter: overlayfs does not work here", "root", root, "reason", err.Error())
		return "native"
	}
	return "overlayfs"
}

// writeConfig writes config.toml (and the registries' hosts dir) for cfg
// and returns the data it rendered.
func writeConfig(cfg Config) (TemplateData, error) {
	regs, err := LoadRegistries(cfg.RegistriesFile)
	if err != nil {
		return TemplateData{}, err
	}
	var tmpl []byte
	if tmpl, err = os.ReadFile(cfg.TemplateFile()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return TemplateData{}, fmt.Errorf("reading %s: %w", cfg.TemplateFile(), err)
	}
	for _, d := range []string{cfg.ConfigDir, cfg.Root, cfg.State, filepath.Dir(cfg.Socket), filepath.Dir(cfg.LogFile), cfg.CNIConfDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return TemplateData{}, err
		}
	}
	d := TemplateData{
		Root:                cfg.Root,
		State:               cfg.State,
		Socket:              cfg.Socket,
		SandboxImage:        cfg.SandboxImage,
		Snapshotter:         snapshotterFor(cfg.Root),
		CNIBinDir:           cfg.CNIBinDir,
		CNIConfDir:          cfg.CNIConfDir,
		SystemdCgroup:       cfg.CgroupDriver == CgroupDriverSystemd,
		RestrictOOMScoreAdj: !CanLowerOOMScore(),
		HostsDir:            cfg.HostsDir(),
		RegistryAuths:       regs.Auths(),
		DisabledPlugins:     defaultDisabledPlugins,
	}
	if d.RestrictOOMScoreAdj {
		klog.InfoS("This host does not let skiff lower oom_score_adj (no CAP_SYS_RESOURCE): setting containerd's restrict_oom_score_adj, so pods keep an oom_score_adj no lower than containerd's")
	}
	out, err := RenderConfig(string(tmpl), d)
	if err != nil {
		return d, fmt.Errorf("rendering %s: %w", cfg.TemplateFile(), err)
	}
	if err := writeHostsDir(cfg.HostsDir(), regs); err != nil {
		return d, fmt.Errorf("writing registry hosts for %s: %w", cfg.RegistriesFile, err)
	}
	if err := fsutil.WriteFile(cfg.ConfigFile(), out, 0o600); err != nil {
		return d, err
	}
	return d, nil
}
