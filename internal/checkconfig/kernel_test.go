package checkconfig

import (
	"strings"
	"testing"
)

// withoutOptions is a kernel config with the named options not set.
func withoutOptions(config string, options ...string) string {
	var out []string
	for _, line := range strings.Split(config, "\n") {
		drop := false
		for _, o := range options {
			drop = drop || strings.HasPrefix(line, o+"=")
		}
		if !drop {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func TestProbe(t *testing.T) {
	vxlan := feature{name: "vxlan", modules: []string{"vxlan"}, configs: []string{"CONFIG_VXLAN"}}
	mods := "/lib/modules/" + testRelease + "/"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  presence
		how   string
	}{
		{"loaded", map[string]string{"/sys/module/vxlan/refcnt": "0"}, present, "loaded"},
		{"built in", map[string]string{"/proc/config.gz": "CONFIG_VXLAN=y\n"}, present, "built in (CONFIG_VXLAN=y)"},
		{"config in /boot", map[string]string{"/boot/config-" + testRelease: "CONFIG_VXLAN=y\n"}, present, "built in (CONFIG_VXLAN=y)"},
		{"module with its file", map[string]string{
			"/proc/config.gz":    "CONFIG_VXLAN=m\n",
			mods + "modules.dep": "kernel/drivers/net/vxlan/vxlan.ko.zst: kernel/net/ipv4/udp_tunnel.ko.zst\n",
		}, present, "a loadable module (CONFIG_VXLAN=m)"},
		{"module without its file", map[string]string{
			"/proc/config.gz":    "CONFIG_VXLAN=m\n",
			mods + "modules.dep": "kernel/net/bridge/bridge.ko.zst:\n",
		}, absent, "a module (CONFIG_VXLAN=m) whose file is not in /lib/modules/" + testRelease},
		// A node container: the host's kernel loads modules on demand, so
		// nothing can be said.
		{"module, no /lib/modules", map[string]string{"/proc/config.gz": "CONFIG_VXLAN=m\n"}, unsure,
			"a module (CONFIG_VXLAN=m), not loaded, and /lib/modules/" + testRelease + " is not here"},
		{"not set", map[string]string{"/proc/config.gz": "# CONFIG_VXLAN is not set\nCONFIG_BRIDGE=y\n"}, absent,
			"not in this kernel (CONFIG_VXLAN is not set in /proc/config.gz)"},
		{"no config, modules.builtin", map[string]string{
			mods + "modules.builtin": "kernel/drivers/net/vxlan.ko\n",
			mods + "modules.dep":     "",
		}, present, "built in (modules.builtin)"},
		{"no config, modules.dep", map[string]string{
			mods + "modules.builtin": "kernel/net/bridge/bridge.ko\n",
			mods + "modules.dep":     "kernel/drivers/net/vxlan/vxlan.ko.xz: kernel/net/ipv4/udp_tunnel.ko.xz\n",
		}, present, "a loadable module (/lib/modules/" + testRelease + ")"},
		{"no config, in neither list", map[string]string{
			mods + "modules.builtin": "kernel/net/bridge/bridge.ko\n",
			mods + "modules.dep":     "kernel/drivers/net/veth.ko:\n",
		}, absent, "neither built in nor a module of this kernel"},
		{"nothing to tell from", map[string]string{}, unsure, "not loaded, and neither the kernel's config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.files["/proc/sys/kernel/osrelease"] = testRelease + "\n"
			h := fakeHost(t, tc.files, Options{}, true)
			got, how, fix := h.probe(vxlan, false)
			if got != tc.want || !strings.HasPrefix(how, tc.how) {
				t.Errorf("probe = %v %q, want %v %q...", got, how, tc.want, tc.how)
			}
			if got != present && fix == "" {
				t.Errorf("no fix for %q", how)
			}
		})
	}
}

func TestModuleName(t *testing.T) {
	for file, want := range map[string]string{
		"kernel/net/netfilter/xt_MASQUERADE.ko.zst": "xt_MASQUERADE",
		"kernel/net/netfilter/nf-conntrack.ko":      "nf_conntrack",
		"kernel/drivers/net/veth.ko.xz":             "veth",
	} {
		if got := moduleName(file); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", file, got, want)
		}
	}
}

// In a node container there may be no /lib/modules, no kernel config and
// no /sys/module entry for built-in veth: nothing is sure, so the start
// goes on and check-config warns.
func TestNodeContainerWithoutKernelFilesStarts(t *testing.T) {
	files := goodHost()
	delete(files, "/proc/config.gz")
	if _, err := start(fakeHost(t, files, nodeOptions(t), false)); err != nil {
		t.Fatalf("start refused a host it cannot tell about: %v", err)
	}
	results := fakeHost(t, files, nodeOptions(t), true).run()
	expect(t, find(t, results, "veth:"), Warning, "not loaded, and neither the kernel's config", "check that the kernel has CONFIG_VETH")
	expect(t, find(t, results, "bridge:"), OK, "loaded")
}

// containerd falls back to the native snapshotter without overlayfs, so
// its absence only warns.
func TestOverlayOnlyWarns(t *testing.T) {
	files := goodHost()
	files["/proc/filesystems"] = "nodev\tsysfs\n\text4\n"
	files["/proc/config.gz"] = withoutOptions(goodConfig, "CONFIG_OVERLAY_FS")
	expect(t, find(t, fakeHost(t, files, nodeOptions(t), true).run(), "overlayfs:"), Warning,
		"not in this kernel (CONFIG_OVERLAY_FS is not set in /proc/config.gz)", "copies every image layer")
	if _, err := start(fakeHost(t, files, nodeOptions(t), false)); err != nil {
		t.Errorf("start refused a host without overlayfs: %v", err)
	}
}

func TestBridgeMissingStopsStart(t *testing.T) {
	files := goodHost()
	delete(files, "/sys/module/bridge/parameters/stp")
	files["/proc/config.gz"] = withoutOptions(goodConfig, "CONFIG_BRIDGE")
	_, err := start(fakeHost(t, files, nodeOptions(t), false))
	if err == nil || !strings.HasPrefix(err.Error(), "missing: bridge: not in this kernel (CONFIG_BRIDGE is not set in /proc/config.gz); the pod network's cni0 bridge needs it: use a kernel built with CONFIG_BRIDGE") {
		t.Errorf("start error = %v", err)
	}
	// With the user's own CNI, skiff makes no bridge.
	o := nodeOptions(t)
	o.Backend = "none"
	results := fakeHost(t, files, o, true).run()
	none(t, results, "bridge:")
	none(t, results, "veth:")
}

// vxlan is needed by the vxlan backend; an agent does not know its
// backend yet and only warns.
func TestVxlanByBackend(t *testing.T) {
	files := goodHost()
	files["/proc/config.gz"] = withoutOptions(goodConfig, "CONFIG_VXLAN")
	for backend, want := range map[string]Status{"vxlan": Missing, "": Warning} {
		o := nodeOptions(t)
		o.Backend = backend
		expect(t, find(t, fakeHost(t, files, o, true).run(), "vxlan:"), want,
			"not in this kernel (CONFIG_VXLAN is not set", "or choose --flannel-backend host-gw")
		_, err := start(fakeHost(t, files, o, false))
		if (err != nil) != (want == Missing) {
			t.Errorf("backend %q: start error %v", backend, err)
		}
	}
	o := nodeOptions(t)
	o.Backend = "host-gw"
	none(t, fakeHost(t, files, o, true).run(), "vxlan:")
}

func TestKernelConfigValue(t *testing.T) {
	c := kernelConfig{text: []byte("CONFIG_NF_NAT=m\n# CONFIG_NAT is not set\nCONFIG_IP_NF_NAT=y\nCONFIG_VETH=y")}
	for option, want := range map[string]string{"CONFIG_NF_NAT": "m", "CONFIG_IP_NF_NAT": "y", "CONFIG_NAT": "", "CONFIG_VETH": "y", "CONFIG_VXLAN": ""} {
		if got := c.value(option); got != want {
			t.Errorf("%s = %q, want %q", option, got, want)
		}
	}
}
