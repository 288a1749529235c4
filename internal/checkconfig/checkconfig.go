package checkconfig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// Status is how one check came out.
type Status int

const (
	// OK: what skiff needs is there.
	OK Status = iota
	// Warning: something is off, or could not be told for sure, and skiff
	// runs anyway. A warning never fails a start or check-config.
	Warning
	// Missing: something skiff needs is definitely not there.
	Missing
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Warning:
		return "warning"
	default:
		return "missing"
	}
}

// Result is one check's outcome, printed as one line.
type Result struct {
	Status Status
	// Text is what was found, worded for someone who does not know the
	// check.
	Text string
	// Fix is what to do about it; empty when there is nothing to do.
	Fix string
}

// String is the line check-config prints, and the one a refused start
// ends with: "missing: iptables is not on PATH: install it (apt-get
// install iptables)".
func (r Result) String() string {
	s := r.Status.String() + ": " + r.Text
	if r.Fix != "" {
		s += ": " + r.Fix
	}
	return s
}

// Options say what will run on this host, which decides what is checked
// and how much a failure matters. The fields follow the server's and the
// agent's flags of the same names.
type Options struct {
	// Root is where /proc, /sys, /lib/modules, /boot and /etc are read
	// from; empty is the real root. Tests point it at a fake tree.
	Root string
	// DataDir is --data-dir, a real path even when Root is set: the free
	// space of its filesystem (of its nearest existing parent, before the
	// first start) is checked.
	DataDir string

	// Node says a node runs here: a server without --disable-agent, or an
	// agent. The kernel, cgroup, iptables and forwarding checks are the
	// node's; without one they do not apply.
	Node bool
	// Backend is --flannel-backend: vxlan needs the vxlan module; none
	// leaves the bridge, veth and forwarding to the user's CNI. Empty means
	// not known yet (an agent learns it from its server), and a missing
	// vxlan then only warns.
	Backend string
	// KubeProxy says kube-proxy runs on the node; it needs iptables and the
	// netfilter matches its rules use.
	KubeProxy bool
	// KubeletArgs and KubeProxyArgs are --kubelet-arg and --kube-proxy-arg
	// items; they may move the ports those two listen on.
	KubeletArgs, KubeProxyArgs []string

	// HTTPSPort is a server's --https-listen-port (0 when not a server);
	// with BindAddress and MetricsServer (not --disable metrics-server) it
	// gives the ports the server listens on. Only Run checks them: the
	// server checks its own ports at start.
	HTTPSPort     int
	BindAddress   string
	MetricsServer bool
	// LBPort is an agent's --lb-server-port (0 when not an agent). Only Run
	// checks it: the load balancer says clearly itself when it cannot
	// listen.
	LBPort int
}

// Run runs every check, for `skiff check-config`, in the order it prints
// them.
func Run(o Options) []Result {
	return newHost(o, true).run()
}

// Start runs the checks a server or agent makes at every start: those that
// are fast (about a millisecond together, most of it reading the kernel's
// config; see TestStartIsFast) and can find something definitely missing. The error is the first missing line,
// as check-config prints it; warnings are logged and the start goes on.
func Start(o Options) error {
	begin := time.Now()
	results, err := start(newHost(o, false))
	for _, r := range results {
		if r.Status == Warning {
			klog.InfoS("Warning: "+r.Text, "fix", r.Fix)
		}
	}
	klog.V(1).InfoS("Checked the host", "took", time.Since(begin))
	return err
}

func start(h *host) ([]Result, error) {
	results := h.run()
	var missing []Result
	for _, r := range results {
		if r.Status == Missing {
			missing = append(missing, r)
		}
	}
	switch len(missing) {
	case 0:
		return results, nil
	case 1:
		return results, errors.New(missing[0].String())
	default:
		return results, fmt.Errorf("%s (and %d more; 'skiff check-config' lists every check)", missing[0], len(missing)-1)
	}
}

// host is one run of the checks: the options, the ways to reach the
// system (replaced in tests), and what several checks read once.
type host struct {
	Options
	// full is a check-config run: the checks that only warn, and those too
	// slow for every start (running iptables), are made as well.
	full bool

	lookPath  func(file string) (string, error)
	output    func(name string, args ...string) (string, error)
	writable  func(path string) bool
	freeSpace func(path string) (uint64, error)
	euid      int

	// Read on first use, once per run.
	rel     string
	kconfig *kernelConfig
	modules *moduleIndex
}

func newHost(o Options, full bool) *host {
	return &host{
		Options:   o,
		full:      full,
		lookPath:  exec.LookPath,
		output:    commandOutput,
		writable:  func(p string) bool { return unix.Access(p, unix.W_OK) == nil },
		freeSpace: freeSpace,
		euid:      os.Geteuid(),
	}
}

// check is one group of checks. atStart marks those a start makes: fast,
// and able to find something missing that would stop skiff later.
type check struct {
	atStart bool
	run     func(*host) []Result
}

// checks are in the order check-config prints them: what the run can
// tell, then the kernel, the tools, the host's settings, and the room skiff
// needs.
func checks() []check {
	return []check{
		{false, (*host).scope},
		{true, (*host).namespaces},
		{true, (*host).cgroups},
		{false, (*host).overlay},
		{true, (*host).bridgeAndVeth},
		{true, (*host).vxlan},
		{false, (*host).brNetfilter},
		{false, (*host).netfilterMatches},
		{true, (*host).iptables},
		{true, (*host).forwarding},
		{false, (*host).swap},
		{true, (*host).dataDir},
		{true, (*host).ports},
	}
}

func (h *host) run() []Result {
	var out []Result
	for _, c := range checks() {
		if h.full || c.atStart {
			out = append(out, c.run(h)...)
		}
	}
	return out
}

// scope says what the run can tell: it warns when check-config runs as
// another user than root, which skiff runs as (ports, sysctls and files
// answer differently), and says when there is no node to check the kernel
// for.
func (h *host) scope() []Result {
	var out []Result
	if h.euid != 0 {
		out = append(out, Result{Status: Warning,
			Text: fmt.Sprintf("running as uid %d, not root: skiff runs as root, and some checks may answer differently for this user", h.euid),
			Fix:  "run check-config as root"})
	}
	if !h.Node {
		out = append(out, Result{Status: OK, Text: "no node runs here (--disable-agent): the kernel, cgroup and iptables checks do not apply"})
	}
	return out
}

// path is p, an absolute path on the host, under Root.
func (h *host) path(p string) string {
	if h.Root == "" {
		return p
	}
	return filepath.Join(h.Root, p)
}

func (h *host) read(p string) ([]byte, error) {
	return os.ReadFile(h.path(p))
}

// exists says whether p is there, without following a last symlink (the
// links in /proc/self/ns do not resolve to paths).
func (h *host) exists(p string) bool {
	_, err := os.Lstat(h.path(p))
	return err == nil
}

// commandOutput runs a short command (iptables --version) and returns its
// combined output; one that hangs is killed.
func commandOutput(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
