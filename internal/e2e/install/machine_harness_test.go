package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
	"github.com/skiff-k8s/skiff/internal/e2e/harness"
	"github.com/skiff-k8s/skiff/internal/e2e/systemdmachine"
	"github.com/skiff-k8s/skiff/internal/launcher"
)

// Bounds of the machine test's steps. A first start extracts skiff's
// runtime, imports the airgap image and starts the control plane; DESIGN.md
// measures the API at about 2 s and the node Ready at about 3 s after exec
// on the host; the rest is slack for a loaded 2-core box.
const (
	bootTimeout      = 60 * time.Second
	installTimeout   = 3 * time.Minute
	nodeReadyTimeout = 2 * time.Minute
	podTimeout       = 2 * time.Minute
	// pollSlack is how late the API poller in a machine may see the API
	// answer after it did: one poll period (a kubectl run of the big
	// multicall binary) and the sleep between two.
	pollSlack = 1500 * time.Millisecond
)

// machineEnv is what the machine test needs from the host: the repository,
// the systemd machine image, and the binaries it serves.
type machineEnv struct {
	root     string
	tag      string
	bin      string // bin/skiff: the release
	upgrade  string // the "rebuilt" binary of the upgrade
	testTar  string // the test pod's image, installed as airgap images
	binSum   string
	upSum    string
	imageLog string
}

// setupMachines skips under -short or without docker, fails with a reason
// when the test cannot run (not root, no bin/skiff, no debootstrap), and
// builds (or finds) the systemd machine image.
func setupMachines(t *testing.T) *machineEnv {
	t.Helper()
	harness.Integration(t, "installs skiff with install.sh into systemd machine containers")
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed: the installer's end-to-end test runs systemd machines as containers")
	}
	if err := harness.RequireRoot("the installer's end-to-end test builds a Debian root filesystem and runs machine containers with every capability"); err != nil {
		t.Fatal(err)
	}
	root, err := harness.RepoRoot("run the tests from inside the repository")
	if err != nil {
		t.Fatal(err)
	}
	e := &machineEnv{root: root}
	if e.bin, err = harness.FindBinary("run the tests from inside the repository"); err != nil {
		t.Fatal(err)
	}
	e.testTar = filepath.Join(root, dh.TestImageTar)
	if _, err := os.Stat(e.testTar); err != nil {
		t.Fatalf("the test image is missing (scripts/build makes it): %v", err)
	}
	e.tag = systemdImage(t, root)

	// The upgrade needs a binary that differs from the release: a rebuilt
	// one in SKIFF_UPGRADE_BIN, else a copy of bin/skiff with bytes added
	// where nothing reads them (see changedCopy).
	e.upgrade = os.Getenv("SKIFF_UPGRADE_BIN")
	if e.upgrade == "" {
		e.upgrade = filepath.Join(t.TempDir(), "skiff")
		if err := changedCopy(e.bin, e.upgrade, fmt.Sprintf("\nskiff e2e upgrade %d\n", time.Now().UnixNano())); err != nil {
			t.Fatalf("making the upgrade binary: %v", err)
		}
	}
	if e.binSum, err = fileSHA256(e.bin); err != nil {
		t.Fatal(err)
	}
	if e.upSum, err = fileSHA256(e.upgrade); err != nil {
		t.Fatal(err)
	}
	if e.binSum == e.upSum {
		t.Fatalf("SKIFF_UPGRADE_BIN=%s is the same binary as %s: the upgrade would change nothing", e.upgrade, e.bin)
	}
	return e
}

// systemdImage builds (or finds) the systemd machine image and returns
// its tag.
func systemdImage(t *testing.T, root string) string {
	t.Helper()
	start := time.Now()
	tag, log, err := systemdmachine.Image(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd machine image %s ready in %.1f s:\n%s", tag, time.Since(start).Seconds(), log)
	return tag
}

// changedCopy copies the binary at src to dst with extra bytes that change
// its hash and nothing else: at the end of a plain ELF binary (the loader
// reads only its segments), or, in a launcher that carries the runtime
// archive after itself, just before that archive (found from the trailer
// at the end, which must stay last).
func changedCopy(src, dst, extra string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	at := st.Size()
	if p, err := launcher.Find(in, st.Size()); err == nil {
		at = p.Offset
	} else if !errors.Is(err, launcher.ErrNoPayload) {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(in, 0, at))
	if err == nil {
		_, err = out.WriteString(extra)
	}
	if err == nil {
		_, err = io.Copy(out, io.NewSectionReader(in, at, st.Size()-at))
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// serveReleases serves, on addr (the machines' network gateway, the host),
// install.sh and three release folders: v1 (bin/skiff), tampered (the
// upgrade binary with a checksum that is not its own) and v2 (the upgrade
// binary). It returns the base URL.
func (e *machineEnv) serveReleases(t *testing.T, addr string) string {
	t.Helper()
	mux := http.NewServeMux()
	file := func(path string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) }
	}
	sums := func(line string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, line) }
	}
	mux.Handle("/install.sh", file(filepath.Join(e.root, "install.sh")))
	mux.Handle("/v1/skiff", file(e.bin))
	mux.Handle("/v1/sha256sum-amd64.txt", sums(e.binSum+"  skiff"))
	mux.Handle("/tampered/skiff", file(e.upgrade))
	mux.Handle("/tampered/sha256sum-amd64.txt", sums(e.binSum[:60]+"beef  skiff"))
	mux.Handle("/v2/skiff", file(e.upgrade))
	mux.Handle("/v2/sha256sum-amd64.txt", sums(e.upSum+"  skiff"))
	base, stop, err := systemdmachine.Serve(addr, mux)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return base
}

// machine is one container with systemd as PID 1.
type machine struct {
	*systemdmachine.Machine
	// baseline is the machine's state before skiff was installed, for
	// what the uninstall must bring back.
	baseline map[string][]string
}

// newMachine creates a machine container on the network at ip, with the
// test pod's image copied in (to install as airgap images), starts it, and
// removes it at the end of the test, first dumping its skiff units'
// journal and its log if the test failed.
func (e *machineEnv) newMachine(t *testing.T, name string, nw *dh.Network, ip string) *machine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
	defer cancel()
	sm, err := systemdmachine.Create(ctx, systemdmachine.Options{Tag: e.tag, Name: name, Network: nw.Name, IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	m := &machine{Machine: sm}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*dh.CommandTimeout)
		defer cancel()
		if t.Failed() {
			t.Logf("%s: the skiff units and their journal:\n%s", name, m.SkiffJournal(ctx))
			m.DumpLog(t)
		}
		if err := m.Remove(ctx); err != nil {
			t.Error(err)
		}
	})
	if err := m.Copy(ctx, e.testTar, "/root/test-http.tar"); err != nil {
		t.Fatal(err)
	}
	if err := m.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitBooted waits until systemd has finished booting and records the
// baseline.
func (m *machine) waitBooted(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	failed, took, err := m.WaitBooted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if failed != "" {
		t.Logf("%s: units that failed at boot (not skiff's): %s", m.Name, failed)
	}
	t.Logf("%s: systemd booted %.1f s after docker start", m.Name, took.Seconds())
	m.baseline = m.state(t)
}

// install runs `curl -sfL <base>/install.sh | sh -` with env in the
// installer's environment, within timeout.
func (m *machine) install(t *testing.T, base string, timeout time.Duration, env ...string) (string, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return m.Install(ctx, base, env...)
}

// unit reads properties of a unit (timestamps in UTC with microseconds).
func (m *machine) unit(t *testing.T, name string, props ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
	defer cancel()
	values, err := m.Unit(ctx, name, props...)
	if err != nil {
		t.Fatal(err)
	}
	return values
}

// installedFiles describes the files the installer writes (hash, mode,
// modification time), to tell whether a run wrote any.
func (m *machine) installedFiles(t *testing.T, files ...string) string {
	t.Helper()
	return m.MustExec(t, append([]string{"sh", "-c", `sha256sum "$@" && stat -c '%n %a %Y.%y' "$@"`, "sh"}, files...)...)
}

// stateScript prints what the uninstall must leave as it found it, by
// section: mount points, network links, the iptables chains and rules of
// both backends (not the built-in chains' policy lines), process names.
const stateScript = `
echo '## mounts'; awk '{ print $5 }' /proc/self/mountinfo | sort
echo '## links'; ls /sys/class/net | sort
for b in nft legacy; do
	for f in iptables ip6tables; do
		echo "## $f-$b"
		"$f-$b-save" 2>/dev/null | grep -E '^(-A|:)' | grep -vE '^:(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ' | sort
	done
done
echo '## processes'; for p in /proc/[0-9]*; do cat "$p/comm" 2>/dev/null; done | sort -u
`

func (m *machine) state(t *testing.T) map[string][]string {
	t.Helper()
	sections := map[string][]string{}
	section := ""
	for _, line := range strings.Split(m.MustExec(t, "sh", "-c", stateScript), "\n") {
		if name, ok := strings.CutPrefix(line, "## "); ok {
			section = name
			sections[section] = []string{}
			continue
		}
		if line != "" {
			sections[section] = append(sections[section], line)
		}
	}
	return sections
}

// leftovers lists what the machine has now that it did not have before
// skiff was installed: names of files of skiff, the kubelet or containerd
// anywhere, skiff units, and, section by section, mounts, links, iptables
// chains and rules and processes the baseline did not have.
func (m *machine) leftovers(t *testing.T) []string {
	t.Helper()
	var left []string
	files := m.MustExec(t, "sh", "-c", `find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o \( -name '*skiff*' -o -name '*kubelet*' -o -name 'containerd*' -o -name 'kubepods*' \) -print`)
	if files != "" {
		left = append(left, "files: "+strings.ReplaceAll(files, "\n", ", "))
	}
	if units := m.MustExec(t, "systemctl", "list-units", "--all", "--no-legend", "--plain", "skiff*", "kubepods*"); units != "" {
		left = append(left, "units: "+units)
	}
	if cgroups, _ := m.Exec(context.Background(), "sh", "-c", "ls -d /sys/fs/cgroup/kubepods* /sys/fs/cgroup/*/kubepods* 2>/dev/null"); cgroups != "" {
		left = append(left, "cgroups: "+strings.ReplaceAll(cgroups, "\n", ", "))
	}
	now := m.state(t)
	for section, lines := range now {
		had := map[string]bool{}
		for _, l := range m.baseline[section] {
			had[l] = true
		}
		var extra []string
		for _, l := range lines {
			// The processes of this check itself.
			if section == "processes" && (l == "sh" || l == "cat" || l == "sort" || l == "awk" || l == "grep" || l == "ls") {
				continue
			}
			if !had[l] {
				extra = append(extra, l)
			}
		}
		if len(extra) > 0 {
			left = append(left, section+": "+strings.Join(extra, ", "))
		}
	}
	return left
}

// waitNodesReady waits until kubectl on the server lists want nodes, all
// Ready.
func (m *machine) waitNodesReady(t *testing.T, want int, alive ...*dh.Node) {
	t.Helper()
	dh.WaitFor(t, nodeReadyTimeout, fmt.Sprintf("%d nodes Ready", want), func(ctx context.Context) (bool, string) {
		out, err := m.Exec(ctx, "kubectl", "get", "nodes", "-o",
			`jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`)
		if err != nil {
			return false, out
		}
		fields := strings.Fields(out)
		ready := 0
		for _, f := range fields {
			if strings.HasSuffix(f, "=True") {
				ready++
			}
		}
		return len(fields) == want && ready == want, out
	}, alive...)
}

// podContainer is the pod's first container's ID, its restart count and
// whether it is ready ("" when it has none yet).
func (m *machine) podContainer(ctx context.Context, pod string) (id string, restarts int, ready bool, out string) {
	out, err := m.Exec(ctx, "kubectl", "get", "pod", pod, "-o",
		`jsonpath={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].ready}`)
	if err != nil {
		return "", 0, false, out
	}
	f := strings.Fields(out)
	if len(f) != 3 {
		return "", 0, false, out
	}
	restarts, _ = strconv.Atoi(f[1])
	return f[0], restarts, f[2] == "true", out
}
