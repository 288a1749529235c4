package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-k8s/skiff/internal/e2e/harness"
)

// Bounds of the harness. The contract promises /readyz within 60 s and a
// clean exit within ~15 s of SIGTERM; the extra seconds on stop are slack for
// a loaded 2-core CI box, not a licence.
const (
	readyTimeout   = 60 * time.Second
	stopTimeout    = 20 * time.Second
	kubectlTimeout = 90 * time.Second
	logTailLines   = 100
)

// skiffBin is the absolute path of the binary under test, set by TestMain.
var skiffBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		bin, err := harness.FindBinary("set SKIFF_BIN to the skiff binary")
		if err == nil {
			err = harness.RequireRoot("these tests start the real skiff server")
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			os.Exit(1)
		}
		skiffBin = bin
	}
	os.Exit(m.Run())
}

// The shared helpers, under the names the tests use.
var (
	poll       = harness.Poll
	writeFile  = harness.WriteFile
	tailString = harness.TailString
	httpGet    = harness.HTTPGet
)

// integration skips t under -short, and only then.
func integration(t *testing.T) {
	t.Helper()
	harness.Integration(t, "starts the real binary")
}

// serverConfig is what a server of a test is started with. startServer fills
// every field, then applies the test's options, which may change anything
// (for example replace Args entirely to take settings from a config file).
type serverConfig struct {
	Root       string   // the test's scratch dir; removed at the end
	DataDir    string   // <Root>/data, not created beforehand
	Port       int      // https-listen-port; Port+1 is the internal apiserver
	Kubeconfig string   // <Root>/kubeconfig.yaml
	Args       []string // argv after the binary name
	Env        []string // added to the environment
}

type option func(*serverConfig)

// withArgs appends flags to the standard command line.
func withArgs(args ...string) option {
	return func(c *serverConfig) { c.Args = append(c.Args, args...) }
}

// withEnv adds KEY=VALUE pairs to the server's environment.
func withEnv(kv ...string) option {
	return func(c *serverConfig) { c.Env = append(c.Env, kv...) }
}

// standardArgs is the command line of a test server. --config points at an
// empty file of the test so that a /etc/skiff/config.yaml on the machine
// cannot change what is tested.
func standardArgs(c *serverConfig) []string {
	return []string{
		"server",
		"--config", emptyConfig(c.Root),
		"--disable-agent",
		"--bind-address", "127.0.0.1",
		"--https-listen-port", strconv.Itoa(c.Port),
		"--data-dir", c.DataDir,
		"--write-kubeconfig", c.Kubeconfig,
	}
}

func emptyConfig(root string) string {
	p := filepath.Join(root, "empty-config.yaml")
	if _, err := os.Stat(p); err != nil {
		_ = os.WriteFile(p, []byte("# e2e: no settings here\n"), 0o644)
	}
	return p
}

// freeServerPorts returns a port P such that the ports a server uses from
// P on are free on 127.0.0.1 (servers of these tests listen there only, so
// tests may run in parallel).
func freeServerPorts(t *testing.T) int {
	t.Helper()
	return harness.FreeServerPorts(t, "127.0.0.1")
}

func newServerConfig(t *testing.T) *serverConfig {
	t.Helper()
	root := harness.ScratchDir(t, "skf")
	c := &serverConfig{
		Root:       root,
		DataDir:    filepath.Join(root, "data"),
		Port:       freeServerPorts(t),
		Kubeconfig: filepath.Join(root, "kubeconfig.yaml"),
	}
	c.Args = standardArgs(c)
	return c
}

// server is one running (or stopped) skiff server of a test.
type server struct {
	t   *testing.T
	cfg serverConfig
	harness.Process

	rest    *rest.Config
	client  kubernetes.Interface
	dynamic dynamic.Interface
}

// startServer starts skiff server in a fresh data dir on free ports and waits
// until /readyz on port P answers ok with the admin client certificate.
func startServer(t *testing.T, opts ...option) *server {
	t.Helper()
	s := launchServer(t, opts...)
	s.waitReady()
	return s
}

// launchServer starts skiff server like startServer but does not wait for
// it to be ready.
func launchServer(t *testing.T, opts ...option) *server {
	t.Helper()
	c := newServerConfig(t)
	for _, o := range opts {
		o(c)
	}
	s := &server{t: t, cfg: *c, Process: harness.Process{Bin: skiffBin, LogPath: filepath.Join(c.Root, "skiff.log")}}
	t.Cleanup(func() { s.Process.Cleanup(t, logTailLines) })
	s.start()
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.Process.Start(s.t, s.cfg.Args, s.cfg.Env)
}

func (s *server) url(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", s.cfg.Port, path)
}

// waitReady polls GET https://127.0.0.1:P/readyz with the admin credentials
// of the written kubeconfig until it answers 200 "ok", then builds clients.
func (s *server) waitReady() {
	t := s.t
	t.Helper()
	begin := time.Now()
	deadline := begin.Add(readyTimeout)
	var last string
	for {
		if !s.Running() {
			t.Fatalf("skiff server exited before it was ready (%v); see its log below", s.Err())
		}
		if time.Now().After(deadline) {
			t.Fatalf("skiff server not ready within %v: last: %s", readyTimeout, last)
		}
		cfg, err := harness.RestConfig(s.cfg.Kubeconfig)
		if err != nil {
			last = "kubeconfig: " + err.Error()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			last = "http client from kubeconfig: " + err.Error()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		hc.Timeout = 5 * time.Second
		code, body, err := httpGet(hc, s.url("/readyz"))
		if err == nil && code == http.StatusOK && strings.TrimSpace(body) == "ok" {
			if want := s.url(""); cfg.Host != want {
				t.Errorf("kubeconfig %s points at %q, want %q", s.cfg.Kubeconfig, cfg.Host, want)
			}
			s.rest = cfg
			s.client = harness.NewClient(cfg, 200, 400)
			s.dynamic = dynamic.NewForConfigOrDie(cfg)
			t.Logf("skiff server (start #%d, port %d) ready after %v", s.Starts(), s.cfg.Port, time.Since(begin).Round(time.Millisecond))
			return
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("HTTP %d: %.200s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop sends SIGTERM and checks for a clean exit (status 0) within
// stopTimeout; past that it kills the server. Either way the server is down
// afterwards, so a slow or unclean stop is reported and the test goes on.
func (s *server) Stop() {
	s.t.Helper()
	if s.Terminate(s.t, stopTimeout) {
		s.checkNoLeftovers()
	}
}

// Kill sends SIGKILL to the server's process group and waits for it.
func (s *server) Kill() {
	s.t.Helper()
	if !s.Running() {
		s.t.Fatalf("Kill: skiff server is not running (exited: %v)", s.Err())
	}
	s.Process.Kill()
}

// Restart starts the server again with the same command line, environment
// and data dir, and waits until it is ready.
func (s *server) Restart() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatal("Restart: skiff server still running; Stop or Kill it first")
	}
	s.start()
	s.waitReady()
}

// checkNoLeftovers reports processes left in the server's process group after
// a clean stop (with --disable-agent nothing should outlive the server).
func (s *server) checkNoLeftovers() {
	pgid := s.Pid()
	if err := syscall.Kill(-pgid, 0); err == nil {
		s.t.Errorf("processes of skiff server's group %d still alive after its clean exit", pgid)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

func (s *server) kubectlRunner() harness.Kubectl {
	return harness.Kubectl{Bin: skiffBin, Kubeconfig: s.cfg.Kubeconfig, CacheRoot: s.cfg.Root, Timeout: kubectlTimeout}
}

// kubectlErr runs kubectl and returns its stdout, stderr and error.
func (s *server) kubectlErr(args ...string) (string, string, error) {
	return s.kubectlRunner().Run(nil, args...)
}

// kubectl runs kubectl and fails the test if it fails.
func (s *server) kubectl(args ...string) string {
	s.t.Helper()
	out, errOut, err := s.kubectlErr(args...)
	if err != nil {
		s.t.Fatalf("skiff kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// result is how a short-lived skiff process ended.
type result = harness.Result

// runSkiff runs the binary to completion (killed after timeout) and reports
// how it ended.
func runSkiff(t *testing.T, timeout time.Duration, env []string, args ...string) result {
	t.Helper()
	r, err := harness.Run(skiffBin, timeout, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// expectUsageError asserts that r is a refusal: it ended by itself, with a
// non-zero status, and stderr has a line starting "skiff: " that contains
// every one of want (case-insensitively).
func expectUsageError(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.TimedOut {
		t.Errorf("skiff did not exit by itself within %v (killed); want a prompt refusal\nstderr tail:\n%s", r.Took.Round(time.Millisecond), tailString(r.Stderr, 30))
		return
	}
	if r.Code == 0 {
		t.Errorf("skiff exited 0; want a non-zero exit status\nstderr tail:\n%s", tailString(r.Stderr, 30))
	}
	if r.Code < 0 {
		t.Errorf("skiff died from a signal; want a plain non-zero exit status")
	}
	var lines []string
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "skiff: ") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) == 0 {
		t.Errorf("stderr has no line starting with %q; want one saying what is wrong and what to do\nstderr tail:\n%s", "skiff: ", tailString(r.Stderr, 30))
		return
	}
	for _, l := range lines {
		if containsAllFold(l, want) {
			t.Logf("exit %d after %v: %s", r.Code, r.Took.Round(time.Millisecond), l)
			return
		}
	}
	t.Errorf("no \"skiff: \" line of stderr mentions all of %q; those lines:\n%s", want, strings.Join(lines, "\n"))
}

func containsAllFold(s string, subs []string) bool {
	ls := strings.ToLower(s)
	for _, sub := range subs {
		if !strings.Contains(ls, strings.ToLower(sub)) {
			return false
		}
	}
	return true
}

// anonClient trusts only the server CA in the data dir and presents no
// client certificate.
func (s *server) anonClient() *http.Client {
	s.t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(s.serverCA())
	if err != nil {
		s.t.Fatalf("reading the server CA: %v", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatalf("%s holds no PEM certificate", s.serverCA())
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
}

func (s *server) serverCA() string {
	return filepath.Join(s.cfg.DataDir, "server", "tls", "server-ca.crt")
}

// snapshotSecrets reads every file under <data-dir>/server/tls and the token
// file, keyed by path relative to the data dir.
func snapshotSecrets(t *testing.T, dataDir string) map[string][]byte {
	t.Helper()
	snap := map[string][]byte{}
	tlsDir := filepath.Join(dataDir, "server", "tls")
	err := filepath.WalkDir(tlsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dataDir, p)
			snap[rel] = b
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", tlsDir, err)
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "server", "token"))
	if err != nil {
		t.Fatalf("reading the token file: %v", err)
	}
	snap["server/token"] = tok
	if len(snap) < 3 {
		t.Fatalf("only %d files under server/tls and server/token; want the CA, certs and keys", len(snap))
	}
	return snap
}

// compareSnapshots reports files that appeared, vanished or changed.
func compareSnapshots(t *testing.T, what string, before, after map[string][]byte) {
	t.Helper()
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			t.Errorf("%s: %s vanished", what, p)
		case !bytes.Equal(a, b):
			t.Errorf("%s: %s changed", what, p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Mode().Perm()
}

func mustNotExist(t *testing.T, path, why string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("%s exists after %s; want nothing written", path, why)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat %s: %v", path, err)
	}
}
