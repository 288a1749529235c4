package kubelet

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// Config is what the agent role tells the kubelet.
type Config struct {
	NodeName      string
	NodeIP        net.IP
	NodeLabels    []string // key=value
	NodeTaints    []string // key=value:Effect
	ClusterDNS    net.IP
	ClusterDomain string
	// CgroupDriver is "cgroupfs" or "systemd"; it must match containerd's.
	CgroupDriver string
	// ContainerRuntimeEndpoint is containerd's CRI socket, unix://...
	ContainerRuntimeEndpoint string
	// Kubeconfig authenticates the kubelet as system:node:<name>.
	Kubeconfig string
	// ClientCAFile verifies the apiserver's (and users') client certificates.
	ClientCAFile string
	// TLSCertFile/TLSKeyFile serve the kubelet's port.
	TLSCertFile, TLSKeyFile string
	// RootDir is the kubelet's own state (pods, volumes), /var/lib/kubelet.
	RootDir string
	// ConfigDir holds the generated config file.
	ConfigDir string
	// ResolvConf is the resolv.conf pods with dnsPolicy Default get; see
	// ResolvConf, which chooses it.
	ResolvConf string
	// ExtraArgs are --kubelet-arg name=value items; they win.
	ExtraArgs []string
}

// configFile writes the KubeletConfiguration and returns its path.
func (c Config) configFile() (string, error) {
	taints, err := parseTaints(c.NodeTaints)
	if err != nil {
		return "", err
	}
	kc := kubeletv1beta1.KubeletConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"},
		// The apiserver reaches the kubelet with a client certificate from
		// the client CA; users' tokens are checked through the apiserver.
		Authentication: kubeletv1beta1.KubeletAuthentication{
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: c.ClientCAFile},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr.To(true), CacheTTL: metav1.Duration{Duration: 2 * time.Minute}},
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
		},
		Authorization:            kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		TLSCertFile:              c.TLSCertFile,
		TLSPrivateKeyFile:        c.TLSKeyFile,
		ClusterDomain:            c.ClusterDomain,
		ClusterDNS:               []string{c.ClusterDNS.String()},
		CgroupDriver:             c.CgroupDriver,
		ContainerRuntimeEndpoint: c.ContainerRuntimeEndpoint,
		// cgroup v1 hosts (most edge boxes and these CI machines) are
		// still supported by the kubelet when told so.
		FailCgroupV1:        ptr.To(false),
		FailSwapOn:          ptr.To(false),
		ReadOnlyPort:        0,
		HealthzBindAddress:  "127.0.0.1",
		SerializeImagePulls: ptr.To(false),
		RegisterWithTaints:  taints,
		ResolverConfig:      ptr.To(c.ResolvConf),
		StaticPodPath:       filepath.Join(c.ConfigDir, "manifests"),
		// Evict on real pressure only: small disks are common on edge boxes.
		EvictionHard: map[string]string{
			"memory.available":  "100Mi",
			"nodefs.available":  "5%",
			"imagefs.available": "5%",
		},
		ImageGCHighThresholdPercent: ptr.To[int32](90),
		ImageGCLowThresholdPercent:  ptr.To[int32](80),
	}
	data, err := yaml.Marshal(kc)
	if err != nil {
		return "", fmt.Errorf("encoding the kubelet configuration: %w", err)
	}
	if err := os.MkdirAll(kc.StaticPodPath, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", kc.StaticPodPath, err)
	}
	path := filepath.Join(c.ConfigDir, "kubelet.yaml")
	old, _ := os.ReadFile(path)
	if !bytes.Equal(old, data) {
		if err := fsutil.WriteFile(path, data, 0o600); err != nil {
			return "", err
		}
	}
	return path, nil
}

// flags are the kubelet's command-line settings: what the config file can't
// hold, then the user's --kubelet-arg, which win.
func (c Config) flags(configFile string) []string {
	args := []string{
		"--config=" + configFile,
		"--kubeconfig=" + c.Kubeconfig,
		"--hostname-override=" + c.NodeName,
		"--node-ip=" + c.NodeIP.String(),
		"--root-dir=" + c.RootDir,
		"--cert-dir=" + filepath.Join(c.RootDir, "pki"),
	}
	if len(c.NodeLabels) > 0 {
		args = append(args, "--node-labels="+strings.Join(c.NodeLabels, ","))
	}
	for _, a := range c.ExtraArgs {
		args = append(args, "--"+strings.TrimLeft(a, "-"))
	}
	return args
}

// parseTaints reads k3s-style taints: key=value:Effect or key:Effect.
func parseTaints(specs []string) ([]v1.Taint, error) {
	var out []v1.Taint
	for _, spec := range specs {
		kv, effect, ok := strings.Cut(spec, ":")
		if !ok {
			return nil, fmt.Errorf("--node-taint %q: want key=value:Effect", spec)
		}
		key, value, _ := strings.Cut(kv, "=")
		switch v1.TaintEffect(effect) {
		case v1.TaintEffectNoSchedule, v1.TaintEffectPreferNoSchedule, v1.TaintEffectNoExecute:
		default:
			return nil, fmt.Errorf("--node-taint %q: effect must be NoSchedule, PreferNoSchedule or NoExecute", spec)
		}
		if key == "" {
			return nil, fmt.Errorf("--node-taint %q: the key is empty", spec)
		}
		out = append(out, v1.Taint{Key: key, Value: value, Effect: v1.TaintEffect(effect)})
	}
	return out, nil
}

// ResolvConf is the file pods with dnsPolicy Default inherit nameservers
// from, cluster DNS's upstream among them: given, when the user chose one
// (--resolv-conf), else the host's. A loopback nameserver (systemd-resolved's
// 127.0.0.53) is unreachable from a pod's network namespace, so the upstream
// file behind it is used instead; when there is none, a file naming a
// public resolver is written to fallbackDir, as k3s does, and the log says
// so.
func ResolvConf(given, fallbackDir string) (string, error) {
	if given != "" {
		if err := CheckResolvConf(given); err != nil {
			return "", fmt.Errorf("--resolv-conf: %w", err)
		}
		return given, nil
	}
	const std, resolved = "/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"
	for _, path := range []string{std, resolved} {
		if servers, err := nameservers(path); err == nil && len(servers) > 0 && !allLoopback(servers) {
			return path, nil
		}
	}
	if err := os.MkdirAll(fallbackDir, 0o755); err != nil {
		return "", fmt.Errorf("writing a fallback resolv.conf: %w", err)
	}
	fallback := filepath.Join(fallbackDir, "resolv.conf")
	klog.InfoS("The host's resolv.conf names no nameserver pods can reach; cluster DNS forwards to 8.8.8.8 (set --resolv-conf to choose)", "file", fallback)
	if err := fsutil.WriteFile(fallback, []byte("nameserver 8.8.8.8\n"), 0o644); err != nil {
		return "", fmt.Errorf("writing a fallback resolv.conf: %w", err)
	}
	return fallback, nil
}

// CheckResolvConf says what is wrong with a resolv.conf a user gave.
func CheckResolvConf(path string) error {
	servers, err := nameservers(path)
	if err != nil {
		return err
	}
	if len(servers) == 0 {
		return fmt.Errorf("%s has no nameserver line; name a DNS server pods can reach", path)
	}
	return nil
}

func nameservers(path string) ([]net.IP, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []net.IP
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if ip := net.ParseIP(fields[1]); ip != nil {
				out = append(out, ip)
			}
		}
	}
	return out, nil
}

func allLoopback(ips []net.IP) bool {
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}
