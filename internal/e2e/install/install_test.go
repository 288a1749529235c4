package install

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// fakeSkiff is a stand-in for the skiff binary that answers what install.sh
// runs of it: --version, and `<role> --help`, from which it learns whether
// the role has --token-file (the agent has, the server not). marker tells
// two versions apart.
func fakeSkiff(marker string) []byte {
	return []byte(`#!/bin/sh
# a stand-in for skiff, ` + marker + `
case "$1 $2" in
"--version "*) echo "skiff version ` + marker + `" ;;
"agent --help") echo "   --token-file value  read the token from this file" ;;
"server --help") echo "   --token value, -t value  shared secret" ;;
*) echo "fake skiff: unexpected arguments: $*" >&2; exit 2 ;;
esac
`)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// release is a local stand-in for the project's release downloads: folders
// of assets and sha256sum-<arch>.txt files served over HTTP, with a count of
// the requests for each path.
type release struct {
	dir string
	srv *httptest.Server

	mu   sync.Mutex
	gets map[string]int
}

func newRelease(t *testing.T) *release {
	t.Helper()
	r := &release{dir: t.TempDir(), gets: map[string]int{}}
	files := http.FileServer(http.Dir(r.dir))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.gets[req.URL.Path]++
		r.mu.Unlock()
		files.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// publish puts asset (skiff, skiff-arm64) into folder, with a checksum file
// for arch that gives sum for it (its real hash when sum is empty).
func (r *release) publish(t *testing.T, folder, arch, asset string, content []byte, sum string) {
	t.Helper()
	if sum == "" {
		sum = sha256Hex(content)
	}
	dir := filepath.Join(r.dir, folder)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, asset), content, 0o755); err != nil {
		t.Fatal(err)
	}
	sums := fmt.Sprintf("%s  %s\n", sum, asset)
	if err := os.WriteFile(filepath.Join(dir, "sha256sum-"+arch+".txt"), []byte(sums), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (r *release) url(folder string) string { return r.srv.URL + "/" + folder }

func (r *release) requests(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gets[path]
}

// runInstall runs install.sh as `curl ... | sh -s - ARGS` does (the script
// on stdin) into the throwaway root, with only PATH and env in its
// environment: every SKIFF_* variable the installer sees goes into the
// service's environment file, so none may leak in from the test's own.
func runInstall(t *testing.T, root string, env []string, args ...string) (string, error) {
	t.Helper()
	script, err := os.Open(installScript(t))
	if err != nil {
		t.Fatal(err)
	}
	defer script.Close()
	cmd := exec.Command("sh", append([]string{"-s", "-"}, args...)...)
	cmd.Stdin = script
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "INSTALL_SKIFF_ROOT=" + root}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustInstall is runInstall that fails the test when install.sh fails.
func mustInstall(t *testing.T, root string, env []string, args ...string) string {
	t.Helper()
	out, err := runInstall(t, root, env, args...)
	if err != nil {
		t.Fatalf("install.sh %s failed: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func installScript(t *testing.T) string {
	t.Helper()
	root, err := harness.RepoRoot("run the tests from inside the repository")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "install.sh")
}

// snapshot describes every file, folder and link under root (mode,
// modification time, content hash or link target), so that two snapshots
// are equal only if nothing was written in between. A folder's
// modification time is left out: the installer's temporary files (the
// checksum file it downloads beside the binary) come and go there.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %d", info.Mode(), info.ModTime().UnixNano())
		switch {
		case info.IsDir():
			desc = info.Mode().String()
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case info.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			desc += " " + sha256Hex(b)
		}
		snap[strings.TrimPrefix(path, root)] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return snap
}

func sameSnapshots(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, d := range after {
		if before[p] != d {
			t.Errorf("%s: %s changed: %q, was %q", what, p, d, before[p])
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s: %s is gone", what, p)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

func mustNotContain(t *testing.T, what, text string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(text, w) {
			t.Errorf("%s has %q:\n%s", what, w, text)
		}
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// executable makes an empty executable file under root (a modprobe, an
// openrc-run), for what install.sh looks for on the machine.
func executable(t *testing.T, root, path string) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestInstallScriptDownloadsAndWritesTheService: a first install downloads
// the binary, checks it against the release's checksum, links kubectl,
// crictl and ctr to it, writes the scripts and a Type=notify unit whose
// command line keeps every argument as given, and starts the service.
func TestInstallScriptDownloadsAndWritesTheService(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	root := t.TempDir()
	executable(t, root, "sbin/modprobe")

	out := mustInstall(t, root, []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1")},
		"server", "--tls-san", "edge.example.com", "--node-label", "site=it's here",
		"--kube-apiserver-arg", `audit-log-path=/var/log/%n$HOME\x`)

	bin := filepath.Join(root, "usr/local/bin")
	if got := readFile(t, filepath.Join(bin, "skiff")); got != string(fakeSkiff("v1")) {
		t.Errorf("installed binary is not the release's:\n%s", got)
	}
	if m := mode(t, filepath.Join(bin, "skiff")); m != 0o755 {
		t.Errorf("skiff: mode %v, want 0755", m)
	}
	for _, tool := range []string{"kubectl", "crictl", "ctr"} {
		if target, err := os.Readlink(filepath.Join(bin, tool)); err != nil || target != "skiff" {
			t.Errorf("%s link: %q, %v", tool, target, err)
		}
	}
	for _, script := range []string{"skiff-killall.sh", "skiff-uninstall.sh"} {
		if m := mode(t, filepath.Join(bin, script)); m != 0o755 {
			t.Errorf("%s: mode %v, want 0755", script, m)
		}
	}
	unit := readFile(t, filepath.Join(root, "etc/systemd/system/skiff.service"))
	mustContain(t, "the unit", unit,
		"Type=notify\n", "KillMode=process\n", "Delegate=yes\n", "Restart=always\n",
		"LimitNOFILE=1048576\n", "LimitNPROC=infinity\n", "LimitCORE=infinity\n", "TasksMax=infinity\n",
		"TimeoutStartSec=0\n", "WantedBy=multi-user.target\n",
		"EnvironmentFile=-/etc/systemd/system/skiff.service.env\n",
		"ExecStartPre=-/sbin/modprobe br_netfilter\n", "ExecStartPre=-/sbin/modprobe overlay\n",
		// systemd's quoting: %% is %, $$ is $, \\ is \ inside quotes.
		`ExecStart=/usr/local/bin/skiff server --tls-san edge.example.com --node-label "site=it's here" --kube-apiserver-arg "audit-log-path=/var/log/%%n$$HOME\\x"`+"\n")
	if m := mode(t, filepath.Join(root, "etc/systemd/system/skiff.service.env")); m != 0o600 {
		t.Errorf("the environment file: mode %v, want 0600", m)
	}
	mustContain(t, "install.sh's output", out,
		"not running: systemctl daemon-reload", "not running: systemctl enable --quiet skiff",
		"not running: systemctl restart skiff", "uninstall with /usr/local/bin/skiff-uninstall.sh")
	for p := range snapshot(t, root) {
		if strings.Contains(p, ".tmp") {
			t.Errorf("a temporary file is left: %s", p)
		}
	}
}

// TestInstallScriptRerunChangesNothing: running the installer again with
// the same settings downloads no binary, writes no file and restarts
// nothing.
func TestInstallScriptRerunChangesNothing(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	root := t.TempDir()
	env := []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1"), "SKIFF_NODE_LABEL=zone=a"}
	mustInstall(t, root, env, "--tls-san", "edge.example.com")
	before := snapshot(t, root)

	out := mustInstall(t, root, env, "--tls-san", "edge.example.com")
	sameSnapshots(t, "after a re-run", before, snapshot(t, root))
	mustContain(t, "the re-run's output", out, "nothing changed: skiff keeps running")
	mustNotContain(t, "the re-run's output", out, "systemctl restart", "systemctl start", "daemon-reload", "downloading")
	if n := rel.requests("/v1/skiff"); n != 1 {
		t.Errorf("the binary was downloaded %d times; a re-run must not download it again", n)
	}
}

// TestInstallScriptRefusesAChecksumMismatch: a download whose hash is not
// the release's is refused, and the earlier install stays exactly as it was.
func TestInstallScriptRefusesAChecksumMismatch(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	rel.publish(t, "tampered", "amd64", "skiff", fakeSkiff("v2"), sha256Hex([]byte("something else")))
	root := t.TempDir()
	mustInstall(t, root, []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1")})
	before := snapshot(t, root)

	out, err := runInstall(t, root, []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("tampered")})
	if err == nil {
		t.Fatalf("install.sh accepted a binary whose checksum does not match:\n%s", out)
	}
	mustContain(t, "install.sh's output", out, "refusing", "sha256", "nothing was changed")
	mustNotContain(t, "install.sh's output", out, "systemctl")
	sameSnapshots(t, "after a refused download", before, snapshot(t, root))
}

// TestInstallScriptUpgradeRestartsOnce: a new release replaces the binary
// and restarts the service once; the unit, unchanged, is not reloaded.
func TestInstallScriptUpgradeRestartsOnce(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	rel.publish(t, "v2", "amd64", "skiff", fakeSkiff("v2"), "")
	root := t.TempDir()
	mustInstall(t, root, []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1")})

	out := mustInstall(t, root, []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v2")})
	if got := readFile(t, filepath.Join(root, "usr/local/bin/skiff")); got != string(fakeSkiff("v2")) {
		t.Errorf("the binary was not upgraded:\n%s", got)
	}
	if n := strings.Count(out, "systemctl restart skiff"); n != 1 {
		t.Errorf("restarted %d times, want once:\n%s", n, out)
	}
	mustContain(t, "the upgrade's output", out, "changed: binary)")
	mustNotContain(t, "the upgrade's output", out, "daemon-reload")
}

// TestInstallScriptInstallsAnAgent: SKIFF_URL alone makes the service an
// agent, skiff-agent, as K3S_URL does for k3s; the URL and token reach it
// through its environment file (mode 0600), never its command line.
func TestInstallScriptInstallsAnAgent(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	root := t.TempDir()
	mustInstall(t, root, []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1"),
		"SKIFF_URL=https://192.0.2.10:6443", `SKIFF_TOKEN=K10abc::node:s3"cr$t`}, "--node-label", "role=edge")

	unit := readFile(t, filepath.Join(root, "etc/systemd/system/skiff-agent.service"))
	mustContain(t, "the unit", unit, "ExecStart=/usr/local/bin/skiff agent --node-label role=edge\n",
		"EnvironmentFile=-/etc/systemd/system/skiff-agent.service.env\n")
	mustNotContain(t, "the unit, which is world-readable,", unit, "s3")
	envFile := filepath.Join(root, "etc/systemd/system/skiff-agent.service.env")
	mustContain(t, "the environment file", readFile(t, envFile),
		"SKIFF_URL=\"https://192.0.2.10:6443\"\n", `SKIFF_TOKEN="K10abc::node:s3\"cr\$t"`+"\n")
	if m := mode(t, envFile); m != 0o600 {
		t.Errorf("%s: mode %v, want 0600", envFile, m)
	}
	bin := filepath.Join(root, "usr/local/bin")
	if _, err := os.Stat(filepath.Join(bin, "skiff-agent-uninstall.sh")); err != nil {
		t.Errorf("no skiff-agent-uninstall.sh: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bin, "skiff-uninstall.sh")); err == nil {
		t.Error("an agent install wrote skiff-uninstall.sh, the server's")
	}
}

// TestInstallScriptAgentRerunNeedsItsSettings: re-running the installer on
// an agent without SKIFF_URL would install a server beside it, a second
// cluster; it stops and says what to pass instead.
func TestInstallScriptAgentRerunNeedsItsSettings(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	dl := "INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1")
	root := t.TempDir()
	mustInstall(t, root, []string{dl, "SKIFF_URL=https://192.0.2.10:6443", "SKIFF_TOKEN=K10x"})
	before := snapshot(t, root)
	out, err := runInstall(t, root, []string{dl})
	if err == nil || !strings.Contains(out, "runs a skiff agent") {
		t.Fatalf("want a refusal naming the agent, got %v:\n%s", err, out)
	}
	sameSnapshots(t, "after the refused re-run", before, snapshot(t, root))
	// Naming the command is a deliberate choice.
	mustInstall(t, root, []string{dl}, "server")
}

// TestInstallScriptTokenFile: an agent reads SKIFF_TOKEN_FILE at each start
// (--token-file); a server, which has no such flag, gets the file's token.
func TestInstallScriptTokenFile(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	for _, tc := range []struct {
		role, envFile, want, unwanted string
	}{
		{"agent", "skiff-agent.service.env", `SKIFF_TOKEN_FILE="/etc/skiff/token"`, "SKIFF_TOKEN="},
		{"server", "skiff.service.env", `SKIFF_TOKEN="K10from-the-file"`, "SKIFF_TOKEN_FILE"},
	} {
		t.Run(tc.role, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "etc/skiff"), 0o700); err != nil {
				t.Fatal(err)
			}
			harness.WriteFile(t, filepath.Join(root, "etc/skiff/token"), "K10from-the-file\n")
			mustInstall(t, root, []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1"),
				"SKIFF_URL=https://192.0.2.10:6443", "SKIFF_TOKEN_FILE=/etc/skiff/token"}, tc.role)
			env := readFile(t, filepath.Join(root, "etc/systemd/system", tc.envFile))
			mustContain(t, "the environment file", env, tc.want)
			mustNotContain(t, "the environment file", env, tc.unwanted)
		})
	}
}

// TestInstallScriptExecNameAndSkips: INSTALL_SKIFF_EXEC's words come before
// the arguments (and may name the role); INSTALL_SKIFF_NAME names the
// service, and its scripts; SKIP_ENABLE and SKIP_START do what they say.
func TestInstallScriptExecNameAndSkips(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	dl := "INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1")

	root := t.TempDir()
	mustInstall(t, root, []string{dl, "INSTALL_SKIFF_EXEC=agent  --node-label zone=a", "INSTALL_SKIFF_NAME=edge",
		"SKIFF_URL=https://192.0.2.10:6443", "SKIFF_TOKEN=K10x"}, "--node-taint", "dedicated=edge:NoSchedule")
	unit := readFile(t, filepath.Join(root, "etc/systemd/system/skiff-edge.service"))
	mustContain(t, "the unit", unit,
		"ExecStart=/usr/local/bin/skiff agent --node-label zone=a --node-taint dedicated=edge:NoSchedule\n")
	if _, err := os.Stat(filepath.Join(root, "usr/local/bin/skiff-edge-uninstall.sh")); err != nil {
		t.Errorf("no skiff-edge-uninstall.sh: %v", err)
	}

	out := mustInstall(t, t.TempDir(), []string{dl, "INSTALL_SKIFF_SKIP_ENABLE=true"})
	mustNotContain(t, "the output with INSTALL_SKIFF_SKIP_ENABLE", out, "systemctl enable", "systemctl restart")
	out = mustInstall(t, t.TempDir(), []string{dl, "INSTALL_SKIFF_SKIP_START=true"})
	mustContain(t, "the output with INSTALL_SKIFF_SKIP_START", out, "systemctl enable --quiet skiff")
	mustNotContain(t, "the output with INSTALL_SKIFF_SKIP_START", out, "systemctl restart", "systemctl start")
}

// TestInstallScriptAirgapImages: the images tarball lands in the data dir's
// airgap folder (the data dir from the command line), private; a re-run
// leaves it, a new tarball restarts the service, and the uninstall script
// removes that data dir.
func TestInstallScriptAirgapImages(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	images := filepath.Join(t.TempDir(), "skiff-airgap-images-amd64.tar.zst")
	harness.WriteFile(t, images, "images v1")
	root := t.TempDir()
	env := []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1"), "INSTALL_SKIFF_AIRGAP_IMAGES=" + images}

	mustInstall(t, root, env, "--data-dir", "/srv/skiff")
	dest := filepath.Join(root, "srv/skiff/agent/images", filepath.Base(images))
	if got := readFile(t, dest); got != "images v1" {
		t.Errorf("%s: %q", dest, got)
	}
	if m := mode(t, dest); m != 0o600 {
		t.Errorf("%s: mode %v, want 0600", dest, m)
	}
	if m := mode(t, filepath.Join(root, "srv/skiff/agent")); m != 0o700 {
		t.Errorf("the agent folder: mode %v, want 0700", m)
	}
	mustContain(t, "the uninstall script", readFile(t, filepath.Join(root, "usr/local/bin/skiff-uninstall.sh")),
		"data_dir=${SKIFF_DATA_DIR:-/srv/skiff}")

	out := mustInstall(t, root, env, "--data-dir", "/srv/skiff")
	mustContain(t, "the re-run's output", out, "nothing changed")
	harness.WriteFile(t, images, "images v2")
	out = mustInstall(t, root, env, "--data-dir", "/srv/skiff")
	mustContain(t, "the output after new images", out, "changed: images)", "systemctl restart skiff")
	if got := readFile(t, dest); got != "images v2" {
		t.Errorf("%s: %q after new images", dest, got)
	}
}

// TestInstallScriptArm64: on arm64 the installer fetches skiff-arm64 and
// checks it against sha256sum-arm64.txt.
func TestInstallScriptArm64(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	// The stand-in is a shell script: it runs here whatever the arch.
	rel.publish(t, "v1", "arm64", "skiff-arm64", fakeSkiff("arm64"), "")
	root := t.TempDir()
	mustInstall(t, root, []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1"), "INSTALL_SKIFF_ARCH=aarch64"})
	if got := readFile(t, filepath.Join(root, "usr/local/bin/skiff")); got != string(fakeSkiff("arm64")) {
		t.Errorf("installed binary is not skiff-arm64:\n%s", got)
	}
	if rel.requests("/v1/sha256sum-arm64.txt") != 1 || rel.requests("/v1/skiff-arm64") != 1 {
		t.Errorf("requests: %v", rel.gets)
	}
}

// TestInstallScriptOpenRC: where OpenRC is the init system the service is
// an openrc-run script that supervise-daemon respawns, reading the same
// arguments (shell-quoted) and a private environment file.
func TestInstallScriptOpenRC(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	root := t.TempDir()
	executable(t, root, "sbin/openrc-run")
	out := mustInstall(t, root, []string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1"), `SKIFF_TOKEN=K10'a"b$c`},
		"server", "--node-label", "site=it's here", "--x", `a$b"c\d`)

	script := filepath.Join(root, "etc/init.d/skiff")
	if m := mode(t, script); m != 0o755 {
		t.Errorf("%s: mode %v, want 0755", script, m)
	}
	mustContain(t, "the OpenRC script", readFile(t, script), "supervisor=supervise-daemon\n", "respawn_max=0\n",
		`command="/usr/local/bin/skiff"`, `if [ -f "/etc/skiff/skiff.env" ]; then . "/etc/skiff/skiff.env"; fi`)
	envFile := filepath.Join(root, "etc/skiff/skiff.env")
	if m := mode(t, envFile); m != 0o600 {
		t.Errorf("%s: mode %v, want 0600", envFile, m)
	}
	// What openrc-run makes of them: the command_args line evaluated as it
	// does, and the environment file sourced.
	check := `env_file=$2; eval "$(grep '^command_args=' "$1")"; eval "set -- $command_args"; for a; do echo "[$a]"; done; . "$env_file"; echo "token=$SKIFF_TOKEN"`
	got, err := exec.Command("sh", "-c", check, "sh", script, envFile).CombinedOutput()
	if err != nil {
		t.Fatalf("reading the OpenRC script as openrc-run does: %v\n%s", err, got)
	}
	want := "[server]\n[--node-label]\n[site=it's here]\n[--x]\n[a$b\"c\\d]\ntoken=K10'a\"b$c\n"
	if string(got) != want {
		t.Errorf("the arguments and environment openrc-run reads:\n%s\nwant:\n%s", got, want)
	}
	mustContain(t, "install.sh's output", out, "not running: rc-update add skiff default", "not running: rc-service skiff restart")
	if _, err := os.Stat(filepath.Join(root, "etc/logrotate.d/skiff")); err != nil {
		t.Errorf("no logrotate configuration for /var/log/skiff.log: %v", err)
	}
}

// TestInstallScriptRefusesBadInput: each mistake stops the installer with a
// line that names it, before anything is installed.
func TestInstallScriptRefusesBadInput(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	rel.publish(t, "other", "amd64", "skiff-other", fakeSkiff("v1"), "")
	rel.publish(t, "broken", "amd64", "skiff", []byte("not a program\n"), "")
	dl := "INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1")
	images := harness.WriteFile(t, filepath.Join(t.TempDir(), "images.zip"), "zip")
	for name, tc := range map[string]struct {
		env  []string
		args []string
		want string
	}{
		"unknown command":             {[]string{dl}, []string{"fly"}, "unknown command 'fly'"},
		"agent without URL":           {[]string{dl}, []string{"agent"}, "needs SKIFF_URL"},
		"agent without token":         {[]string{dl, "SKIFF_URL=https://192.0.2.10:6443"}, nil, "needs SKIFF_TOKEN"},
		"plain http server URL":       {[]string{dl, "SKIFF_URL=http://192.0.2.10:6443", "SKIFF_TOKEN=x"}, nil, "must be https://"},
		"token and token file":        {[]string{dl, "SKIFF_TOKEN=x", "SKIFF_TOKEN_FILE=/etc/skiff/token"}, nil, "not both"},
		"unreadable token file":       {[]string{dl, "SKIFF_TOKEN_FILE=/etc/skiff/none"}, nil, "cannot be read"},
		"the old INSTALL_SKIFF_URL":   {[]string{"INSTALL_SKIFF_URL=https://example.com/skiff"}, nil, "INSTALL_SKIFF_DOWNLOAD_URL"},
		"a name with a slash":         {[]string{dl, "INSTALL_SKIFF_NAME=a/b"}, nil, "INSTALL_SKIFF_NAME"},
		"a relative bin dir":          {[]string{dl, "INSTALL_SKIFF_BIN_DIR=bin"}, nil, "absolute path"},
		"a data dir with a space":     {[]string{dl}, []string{"--data-dir", "/srv/my skiff"}, "the data dir"},
		"a system folder as data dir": {[]string{dl}, []string{"--data-dir", "/var/lib"}, "a folder of the system"},
		"an unsupported arch":         {[]string{dl, "INSTALL_SKIFF_ARCH=riscv64"}, nil, "amd64 and arm64"},
		"no checksum file":            {[]string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("missing")}, nil, "sha256sum-amd64.txt failed"},
		"no checksum line":            {[]string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("other")}, nil, "has no line for skiff"},
		"a binary that does not run":  {[]string{"INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("broken")}, nil, "does not run"},
		"a missing local binary":      {[]string{"INSTALL_SKIFF_BIN=/nonexistent/skiff"}, nil, "not an executable file"},
		"skip download, no binary":    {[]string{"INSTALL_SKIFF_SKIP_DOWNLOAD=true"}, nil, "no executable skiff"},
		"images of an unknown kind":   {[]string{dl, "INSTALL_SKIFF_AIRGAP_IMAGES=" + images}, nil, ".tar.zst image tarballs only"},
		"missing images":              {[]string{dl, "INSTALL_SKIFF_AIRGAP_IMAGES=/nonexistent.tar"}, nil, "is not a file"},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			out, err := runInstall(t, root, tc.env, tc.args...)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("want a failure saying %q, got %v:\n%s", tc.want, err, out)
			}
			// Folders may be made before a download fails; no file may be.
			for p, desc := range snapshot(t, root) {
				if !strings.HasPrefix(desc, "d") {
					t.Errorf("a refused install left %s behind", p)
				}
			}
		})
	}
}

// TestInstallScriptShellcheck: install.sh, every script it writes (the
// killall and uninstall scripts of a server and of an agent, the OpenRC
// service) and the systemd machine image's scripts pass shellcheck.
func TestInstallScriptShellcheck(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Fatal("shellcheck is not installed: scripts/deps installs it (apt-get install shellcheck)")
	}
	rel := newRelease(t)
	rel.publish(t, "v1", "amd64", "skiff", fakeSkiff("v1"), "")
	dl := "INSTALL_SKIFF_DOWNLOAD_URL=" + rel.url("v1")
	systemd, openrc := t.TempDir(), t.TempDir()
	executable(t, systemd, "sbin/modprobe")
	mustInstall(t, systemd, []string{dl})
	mustInstall(t, systemd, []string{dl, "SKIFF_URL=https://192.0.2.10:6443", "SKIFF_TOKEN=x"})
	executable(t, openrc, "sbin/openrc-run")
	executable(t, openrc, "sbin/modprobe")
	mustInstall(t, openrc, []string{dl})

	repo := filepath.Dir(installScript(t))
	scripts := []string{
		installScript(t),
		filepath.Join(repo, "scripts/image-systemd"),
		filepath.Join(repo, "scripts/image-systemd-entrypoint"),
		filepath.Join(systemd, "usr/local/bin/skiff-killall.sh"),
		filepath.Join(systemd, "usr/local/bin/skiff-uninstall.sh"),
		filepath.Join(systemd, "usr/local/bin/skiff-agent-uninstall.sh"),
		filepath.Join(openrc, "etc/init.d/skiff"),
	}
	for _, s := range scripts {
		// --shell=sh for the scripts without a #!/bin/sh line (the OpenRC
		// script names openrc-run, and says "shell=sh" in a directive).
		out, err := exec.Command("shellcheck", "--shell=sh", s).CombinedOutput()
		if err != nil {
			t.Errorf("shellcheck %s: %v\n%s", strings.TrimPrefix(s, repo+"/"), err, out)
		}
	}
}

// TestE2EInstallScriptWithTheRealBinary installs bin/skiff
// (INSTALL_SKIFF_BIN, as a developer or an airgap install does) and checks
// what the installer relies on of the real CLI: --version runs, the agent
// has --token-file, both roles take --data-dir.
func TestE2EInstallScriptWithTheRealBinary(t *testing.T) {
	harness.Integration(t, "runs install.sh with the real binary")
	bin, err := harness.FindBinary("run the tests from inside the repository")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	mustInstall(t, root, []string{"INSTALL_SKIFF_BIN=" + bin}, "server", "--tls-san", "edge.example.com")
	installed := filepath.Join(root, "usr/local/bin/skiff")
	version, err := exec.Command(installed, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(version), "kubernetes v1.37") {
		t.Fatalf("installed skiff --version: %v %s", err, version)
	}
	agentHelp, _ := exec.Command(installed, "agent", "--help").CombinedOutput()
	mustContain(t, "skiff agent --help", string(agentHelp), "--token-file", "--data-dir", "--server")
	serverHelp, _ := exec.Command(installed, "server", "--help").CombinedOutput()
	mustContain(t, "skiff server --help", string(serverHelp), "--data-dir")

	out := mustInstall(t, root, []string{"INSTALL_SKIFF_BIN=" + bin}, "server", "--tls-san", "edge.example.com")
	mustContain(t, "the re-run's output", out, "is already", "nothing changed")
}
