package checkconfig

import (
	"bytes"
	"compress/gzip"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const testRelease = "6.1.0-test"

// goodHost is the files of a host that can run skiff, like this project's
// machines: cgroup v1 beside an unused v2 hierarchy, everything built in,
// the kernel's config in /proc/config.gz. A test changes one thing.
func goodHost() map[string]string {
	files := map[string]string{
		"/proc/sys/kernel/osrelease":                   testRelease + "\n",
		"/proc/self/mounts":                            v1Mounts,
		"/proc/cgroups":                                procCgroups,
		"/proc/filesystems":                            "nodev\tsysfs\nnodev\tproc\n\text4\nnodev\toverlay\n",
		"/proc/config.gz":                              goodConfig,
		"/sys/module/bridge/parameters/stp":            "",
		"/proc/net/ip_tables_matches":                  "conntrack\ncomment\nmark\nstatistic\nmultiport\naddrtype\nicmp\nudp\ntcp\n",
		"/proc/net/ip_tables_targets":                  "MASQUERADE\nDNAT\nERROR\n",
		"/proc/sys/net/ipv4/ip_forward":                "1\n",
		"/proc/sys/net/bridge/bridge-nf-call-iptables": "1\n",
		"/proc/swaps":                                  "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
		"/etc/os-release":                              "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
	}
	for _, ns := range namespaces {
		files["/proc/self/ns/"+ns.name] = ""
	}
	return files
}

const v1Mounts = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/devices cgroup rw,relatime,devices 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
`

const procCgroups = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	1	1
cpu	1	1	1
cpuacct	2	1	1
memory	4	41	1
devices	5	1	1
pids	8	1	1
`

const goodConfig = `#
# Linux/x86 6.1.0 Kernel Configuration
#
CONFIG_NAMESPACES=y
CONFIG_USER_NS=y
CONFIG_OVERLAY_FS=y
CONFIG_BRIDGE=y
CONFIG_VETH=y
CONFIG_VXLAN=y
CONFIG_BRIDGE_NETFILTER=y
CONFIG_NETFILTER_XT_MATCH_CONNTRACK=y
CONFIG_NETFILTER_XT_MATCH_COMMENT=y
CONFIG_NETFILTER_XT_MARK=y
CONFIG_NETFILTER_XT_MATCH_STATISTIC=y
CONFIG_NETFILTER_XT_MATCH_MULTIPORT=y
CONFIG_NETFILTER_XT_MATCH_ADDRTYPE=y
CONFIG_NETFILTER_XT_TARGET_MASQUERADE=y
# CONFIG_IP_VS is not set
`

// nodeOptions are a server with its node, the default backend and
// kube-proxy, whose ports are moved to free ones so that the tests do not
// depend on what listens on this machine.
func nodeOptions(t *testing.T) Options {
	return Options{
		DataDir: "/var/lib/skiff", Node: true, Backend: "vxlan", KubeProxy: true,
		KubeletArgs: []string{"address=127.0.0.1", "port=" + strconv.Itoa(freePort(t)), "healthz-port=" + strconv.Itoa(freePort(t))},
		KubeProxyArgs: []string{
			"healthz-bind-address=127.0.0.1:" + strconv.Itoa(freePort(t)),
			"metrics-bind-address=127.0.0.1:" + strconv.Itoa(freePort(t)),
		},
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// fakeHost is a host over a fake tree holding files (an empty value under
// a path ending in "/" is a folder), with every tool on PATH, a writable
// /proc/sys, plenty of disk, and root as the user.
func fakeHost(t *testing.T, files map[string]string, o Options, full bool) *host {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		path := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		data := []byte(content)
		if strings.HasSuffix(p, ".gz") {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(data)
			zw.Close()
			data = buf.Bytes()
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o.Root = root
	h := newHost(o, full)
	h.lookPath = func(file string) (string, error) { return "/usr/sbin/" + file, nil }
	h.output = func(string, ...string) (string, error) { return "iptables v1.8.9 (nf_tables)\n", nil }
	h.writable = func(string) bool { return true }
	h.freeSpace = func(string) (uint64, error) { return 50 << 30, nil }
	h.euid = 0
	return h
}

// find is the first result whose text starts with prefix.
func find(t *testing.T, results []Result, prefix string) Result {
	t.Helper()
	for _, r := range results {
		if strings.HasPrefix(r.Text, prefix) {
			return r
		}
	}
	t.Fatalf("no result starts with %q in:\n%s", prefix, lines(results))
	return Result{}
}

func none(t *testing.T, results []Result, prefix string) {
	t.Helper()
	for _, r := range results {
		if strings.HasPrefix(r.Text, prefix) {
			t.Fatalf("want no result starting with %q, got %q", prefix, r)
		}
	}
}

func lines(results []Result) string {
	var b strings.Builder
	for _, r := range results {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

func expect(t *testing.T, r Result, st Status, contains ...string) {
	t.Helper()
	if r.Status != st {
		t.Errorf("%q: status %v, want %v", r, r.Status, st)
	}
	for _, s := range contains {
		if !strings.Contains(r.String(), s) {
			t.Errorf("%q does not mention %q", r, s)
		}
	}
}

func TestGoodHostPasses(t *testing.T) {
	h := fakeHost(t, goodHost(), nodeOptions(t), true)
	results := h.run()
	t.Logf("check-config on the fake good host:\n%s", lines(results))
	for _, r := range results {
		if r.Status != OK {
			t.Errorf("not ok on a good host: %s", r)
		}
	}
	if _, err := start(fakeHost(t, goodHost(), nodeOptions(t), false)); err != nil {
		t.Errorf("start refused a good host: %v", err)
	}
}

func TestResultLine(t *testing.T) {
	r := Result{Status: Missing, Text: "iptables is not on PATH", Fix: "install it (apt-get install iptables)"}
	if got, want := r.String(), "missing: iptables is not on PATH: install it (apt-get install iptables)"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
	if got := (Result{Status: OK, Text: "swap is off"}).String(); got != "ok: swap is off" {
		t.Errorf("ok line = %q", got)
	}
	if got := (Result{Status: Warning, Text: "x", Fix: "y"}).String(); got != "warning: x: y" {
		t.Errorf("warning line = %q", got)
	}
}

// A refused start says the first missing thing, as check-config prints
// it, and how many more there are.
func TestStartErrorIsTheFirstMissingLine(t *testing.T) {
	files := goodHost()
	delete(files, "/proc/self/ns/pid")
	h := fakeHost(t, files, nodeOptions(t), false)
	h.lookPath = func(string) (string, error) { return "", os.ErrNotExist }
	_, err := start(h)
	if err == nil {
		t.Fatal("start passed with no pid namespace and no iptables")
	}
	if !strings.HasPrefix(err.Error(), "missing: namespaces: this kernel has no pid namespace") || !strings.Contains(err.Error(), "(and 1 more; 'skiff check-config' lists every check)") {
		t.Errorf("error = %q", err)
	}
}

// Without a node, only the data dir (and, for check-config, the server's
// ports) matter.
func TestNoNode(t *testing.T) {
	h := fakeHost(t, map[string]string{}, Options{DataDir: "/var/lib/skiff"}, true)
	results := h.run()
	if len(results) != 2 {
		t.Fatalf("want the no-node line and the data dir, got:\n%s", lines(results))
	}
	expect(t, results[0], OK, "no node runs here")
	expect(t, results[1], OK, "data dir /var/lib/skiff: 50.0 GiB free")
}

func TestNotRootWarns(t *testing.T) {
	h := fakeHost(t, goodHost(), nodeOptions(t), true)
	h.euid = 1000
	expect(t, find(t, h.run(), "running as uid 1000"), Warning, "run check-config as root")
}

// The start-time checks must not slow the start down: "node Ready" is
// benchmarked, and the checks run on its path. The minimum of several runs
// is what the checks cost; the rest is the machine's noise.
// BenchmarkStart is the cost the checks add to every start (about 1 ms on
// a 2-core VM; most of it reading /proc/config.gz): go test -bench Start.
func BenchmarkStart(b *testing.B) {
	o := Options{DataDir: b.TempDir(), Node: true, Backend: "vxlan", KubeProxy: true,
		KubeletArgs: []string{"address=127.0.0.1", "port=" + strconv.Itoa(freePort(b))}}
	for b.Loop() {
		_, _ = start(newHost(o, false))
	}
}
