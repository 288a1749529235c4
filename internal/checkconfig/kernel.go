package checkconfig

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// feature is a part of the kernel skiff needs, and the names it goes by.
type feature struct {
	// name is how users know it: "vxlan", "-m comment".
	name string
	// modules are its module's names (older kernels may use another);
	// /sys/module/<name> appears once one is loaded.
	modules []string
	// configs are the build options that give it; any one will do.
	configs []string
}

// presence is what the evidence says about a feature.
type presence int

const (
	unsure presence = iota
	present
	absent
)

// probe says whether f is in the kernel or can be loaded into it, how it
// knows, and what to do when it is not there. loaded is the caller's own
// live evidence (overlay in /proc/filesystems).
//
// Evidence is weighed from the surest down. What is loaded is there. Else
// the kernel's build configuration says built in (y), module (m) or
// neither; a module counts only when /lib/modules/<release> holds its file.
// Without a configuration, that folder's module lists decide. When neither
// is here — a node container without /lib/modules, a kernel whose config
// is not exposed — nothing can be said for sure, and the answer is unsure:
// skiff then starts, and the part that needs the feature says so if it
// fails. (Built-in code without parameters has no /sys/module entry: veth
// usually, so "not loaded" alone proves nothing.)
func (h *host) probe(f feature, loaded bool) (p presence, how, fix string) {
	if loaded {
		return present, "loaded", ""
	}
	for _, m := range f.modules {
		if h.exists("/sys/module/" + m) {
			return present, "loaded", ""
		}
	}
	want := fmt.Sprintf("use a kernel built with %s (y or m)", f.configs[0])
	if cfg := h.config(); cfg.text != nil {
		for _, c := range f.configs {
			if cfg.value(c) == "y" {
				return present, fmt.Sprintf("built in (%s=y)", c), ""
			}
		}
		for _, c := range f.configs {
			if cfg.value(c) != "m" {
				continue
			}
			mods := h.moduleIndex()
			switch {
			case mods.loadable == nil:
				return unsure, fmt.Sprintf("a module (%s=m), not loaded, and %s is not here to load it from", c, h.modulesDir()),
					fmt.Sprintf("load it on the host (modprobe %s)", f.modules[0])
			case mods.has(mods.loadable, f.modules):
				return present, fmt.Sprintf("a loadable module (%s=m)", c), ""
			default:
				return absent, fmt.Sprintf("a module (%s=m) whose file is not in %s", c, h.modulesDir()),
					"install this kernel's modules package"
			}
		}
		return absent, fmt.Sprintf("not in this kernel (%s is not set in %s)", f.configs[0], cfg.file), want
	}
	mods := h.moduleIndex()
	switch {
	case mods.has(mods.builtin, f.modules):
		return present, "built in (modules.builtin)", ""
	case mods.has(mods.loadable, f.modules):
		return present, fmt.Sprintf("a loadable module (%s)", h.modulesDir()), ""
	case mods.builtin != nil && mods.loadable != nil:
		return absent, fmt.Sprintf("neither built in nor a module of this kernel (%s)", h.modulesDir()), want
	}
	return unsure, fmt.Sprintf("not loaded, and neither the kernel's config (/proc/config.gz, /boot/config-%s) nor %s is here to tell more", h.release(), h.modulesDir()),
		fmt.Sprintf("check that the kernel has %s (y or m)", f.configs[0])
}

// featureLine turns a probe into a line. need says what needs f, shown
// when it is not there; required says whether its absence stops skiff or
// only warns; alt is another way out, added to the fix.
func (h *host) featureLine(f feature, loaded bool, need string, required bool, alt string) Result {
	p, how, fix := h.probe(f, loaded)
	if p == present {
		return Result{Status: OK, Text: f.name + ": " + how}
	}
	if alt != "" {
		fix += ", or " + alt
	}
	st := Warning
	if p == absent && required {
		st = Missing
	}
	return Result{Status: st, Text: f.name + ": " + how + "; " + need, Fix: fix}
}

// release is the running kernel's, as uname -r says it.
func (h *host) release() string {
	if h.rel == "" {
		h.rel = "unknown"
		if b, err := h.read("/proc/sys/kernel/osrelease"); err == nil {
			h.rel = strings.TrimSpace(string(b))
		}
	}
	return h.rel
}

func (h *host) modulesDir() string {
	return "/lib/modules/" + h.release()
}

// kernelConfig is the kernel's build configuration.
type kernelConfig struct {
	// file is where it was read; text is nil when none was found.
	file string
	text []byte
}

// value is how option is set: "y", "m", or "" when not set. The text is
// searched rather than parsed into a map: a probe asks for two or three
// options, and a map of the seven thousand would cost a start more than
// the searches do.
func (c *kernelConfig) value(option string) string {
	for rest := c.text; ; {
		i := bytes.Index(rest, []byte(option+"="))
		if i < 0 {
			return ""
		}
		line := rest[i+len(option)+1:]
		if end := bytes.IndexByte(line, '\n'); end >= 0 {
			line = line[:end]
		}
		if i == 0 || rest[i-1] == '\n' { // not the tail of a longer name
			return string(bytes.TrimSpace(line))
		}
		rest = rest[i+len(option):]
	}
}

// config reads the kernel's configuration from the first of the places
// distributions put it, once per run.
func (h *host) config() *kernelConfig {
	if h.kconfig != nil {
		return h.kconfig
	}
	h.kconfig = &kernelConfig{}
	rel := h.release()
	for _, p := range []string{"/proc/config.gz", "/boot/config-" + rel, "/lib/modules/" + rel + "/config"} {
		data, err := h.read(p)
		if err != nil {
			continue
		}
		if strings.HasSuffix(p, ".gz") {
			if data, err = gunzip(data); err != nil {
				continue
			}
		}
		h.kconfig = &kernelConfig{file: p, text: data}
		break
	}
	return h.kconfig
}

func gunzip(data []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// moduleIndex is what /lib/modules/<release> lists: the modules built into
// the kernel and those that can be loaded. A list is nil when its file
// could not be read.
type moduleIndex struct {
	builtin, loadable map[string]bool
}

func (m *moduleIndex) has(list map[string]bool, names []string) bool {
	for _, n := range names {
		if list[moduleName(n)] {
			return true
		}
	}
	return false
}

// moduleIndex reads modules.builtin and modules.dep once per run: they are
// large (modules.dep is often half a megabyte), and only a probe that the
// faster evidence did not settle needs them.
func (h *host) moduleIndex() *moduleIndex {
	if h.modules != nil {
		return h.modules
	}
	dir := h.modulesDir()
	h.modules = &moduleIndex{
		builtin:  h.moduleList(filepath.Join(dir, "modules.builtin")),
		loadable: h.moduleList(filepath.Join(dir, "modules.dep")),
	}
	return h.modules
}

// moduleList reads the module names of a modules.builtin or modules.dep:
// each line starts with a module's path (kernel/net/bridge/bridge.ko.zst),
// followed in modules.dep by a colon and its dependencies.
func (h *host) moduleList(path string) map[string]bool {
	data, err := h.read(path)
	if err != nil {
		return nil
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		file, _, _ := strings.Cut(sc.Text(), ":")
		if file = strings.TrimSpace(file); file != "" {
			names[moduleName(file)] = true
		}
	}
	return names
}

// moduleName is how the kernel names a module file: without its folder and
// extensions (.ko, .ko.xz, .ko.zst), with dashes as underscores, as in
// /sys/module.
func moduleName(file string) string {
	base := filepath.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}
