package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
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
		bin, err := findBinary()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			os.Exit(1)
		}
		skiffBin = bin
		if os.Geteuid() != 0 {
			fmt.Fprintf(os.Stderr, "e2e: these tests start the real skiff server and must run as root (euid is %d): run them as root, or pass -short to skip the integration tests\n", os.Geteuid())
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// findBinary returns $SKIFF_BIN, or <repo>/bin/skiff.
func findBinary() (string, error) {
	p := os.Getenv("SKIFF_BIN")
	if p == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		p = filepath.Join(root, "bin", "skiff")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("skiff binary not found at %s (%v): build it first with scripts/build, or point SKIFF_BIN at a built binary", abs, err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file: build it with scripts/build, or point SKIFF_BIN at a built binary", abs)
	}
	return abs, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (no go.mod above the working directory): set SKIFF_BIN to the skiff binary")
		}
		dir = parent
	}
}

// integration skips t under -short, and only then.
func integration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration: starts the real binary")
	}
}

// scratchDir makes a short directory for one test and removes it at the end.
// t.TempDir paths embed the test name and can push kine's unix socket in
// <data-dir>/server/ past the 108-byte sun_path limit, so we stay short.
func scratchDir(t *testing.T) string {
	t.Helper()
	base := os.TempDir()
	if len(base) > 32 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "skf")
	if err != nil {
		t.Fatalf("making a scratch dir: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	})
	return dir
}

var (
	portMu    sync.Mutex
	portTaken = map[int]bool{}
)

// freePortPair returns a port P such that P and P+1 are free on 127.0.0.1 and
// were not handed to another test of this process. It picks below the usual
// ephemeral range so that outgoing connections are unlikely to grab them
// between now and the server's listen.
func freePortPair(t *testing.T) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 500 {
		p := 20000 + 2*rand.IntN(4900) // 20000..29798, even
		if portTaken[p] || portTaken[p+1] {
			continue
		}
		if !portFree(p) || !portFree(p+1) {
			continue
		}
		portTaken[p], portTaken[p+1] = true, true
		return p
	}
	t.Fatal("no two free consecutive ports found on 127.0.0.1")
	return 0
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// childEnv is the environment of every process we start: ours without any
// SKIFF_* or KUBECONFIG that would leak into the server's settings, plus
// extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SKIFF_") || strings.HasPrefix(kv, "KUBECONFIG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
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

func newServerConfig(t *testing.T) *serverConfig {
	t.Helper()
	root := scratchDir(t)
	c := &serverConfig{
		Root:       root,
		DataDir:    filepath.Join(root, "data"),
		Port:       freePortPair(t),
		Kubeconfig: filepath.Join(root, "kubeconfig.yaml"),
	}
	c.Args = standardArgs(c)
	return c
}

// server is one running (or stopped) skiff server of a test.
type server struct {
	t       *testing.T
	cfg     serverConfig
	logPath string

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	starts  int

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
	s := &server{t: t, cfg: *c, logPath: filepath.Join(c.Root, "skiff.log")}
	t.Cleanup(func() {
		if s.running() {
			s.killGroup()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("last %d lines of %s:\n%s", logTailLines, s.logPath, tailFile(s.logPath, logTailLines))
		}
	})
	s.start()
	return s
}

func (s *server) start() {
	t := s.t
	t.Helper()
	s.starts++
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("opening the server log: %v", err)
	}
	fmt.Fprintf(logf, "=== e2e: start #%d: %s %s\n", s.starts, skiffBin, strings.Join(s.cfg.Args, " "))
	if len(s.cfg.Env) > 0 {
		fmt.Fprintf(logf, "=== e2e: env %s\n", strings.Join(s.cfg.Env, " "))
	}
	cmd := exec.Command(skiffBin, s.cfg.Args...)
	cmd.Env = childEnv(s.cfg.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", skiffBin, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	s.waitErr = nil
	go func() {
		s.waitErr = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
}

func (s *server) running() bool {
	if s.exited == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func (s *server) killGroup() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
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
		if !s.running() {
			t.Fatalf("skiff server exited before it was ready (%v); see its log below", s.waitErr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("skiff server not ready within %v: last: %s", readyTimeout, last)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", s.cfg.Kubeconfig)
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
			cfg.QPS, cfg.Burst = 200, 400
			s.rest = cfg
			s.client = kubernetes.NewForConfigOrDie(cfg)
			s.dynamic = dynamic.NewForConfigOrDie(cfg)
			t.Logf("skiff server (start #%d, port %d) ready after %v", s.starts, s.cfg.Port, time.Since(begin).Round(time.Millisecond))
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
	t := s.t
	t.Helper()
	if !s.running() {
		t.Fatalf("Stop: skiff server is not running (exited: %v)", s.waitErr)
	}
	begin := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("sending SIGTERM: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.killGroup()
		<-s.exited
		t.Errorf("skiff server did not exit within %v of SIGTERM (killed it)", stopTimeout)
		return
	}
	took := time.Since(begin).Round(time.Millisecond)
	if s.waitErr != nil {
		t.Errorf("skiff server exited with %v %v after SIGTERM, want exit status 0", s.waitErr, took)
	} else {
		t.Logf("skiff server stopped cleanly %v after SIGTERM", took)
	}
	s.checkNoLeftovers()
}

// Kill sends SIGKILL to the server's process group and waits for it.
func (s *server) Kill() {
	s.t.Helper()
	if !s.running() {
		s.t.Fatalf("Kill: skiff server is not running (exited: %v)", s.waitErr)
	}
	s.killGroup()
	<-s.exited
}

// Restart starts the server again with the same command line, environment
// and data dir, and waits until it is ready.
func (s *server) Restart() {
	s.t.Helper()
	if s.running() {
		s.t.Fatal("Restart: skiff server still running; Stop or Kill it first")
	}
	s.start()
	s.waitReady()
}

// checkNoLeftovers reports processes left in the server's process group after
// a clean stop (with --disable-agent nothing should outlive the server).
func (s *server) checkNoLeftovers() {
	pgid := s.cmd.Process.Pid
	if err := syscall.Kill(-pgid, 0); err == nil {
		s.t.Errorf("processes of skiff server's group %d still alive after its clean exit", pgid)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// kubectlCmd is `<bin> kubectl --kubeconfig <kubeconfig> args...` with a
// discovery cache private to the test.
func (s *server) kubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"kubectl", "--kubeconfig", s.cfg.Kubeconfig}, args...)
	cmd := exec.CommandContext(ctx, skiffBin, full...)
	cmd.Env = childEnv("KUBECACHEDIR=" + filepath.Join(s.cfg.Root, "kubecache"))
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// kubectlErr runs kubectl and returns its stdout, stderr and error.
func (s *server) kubectlErr(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := s.kubectlCmd(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
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
type result struct {
	code     int // exit status; -1 if killed by a signal
	stdout   string
	stderr   string
	took     time.Duration
	timedOut bool
}

// runSkiff runs the binary to completion (killed after timeout) and reports
// how it ended.
func runSkiff(t *testing.T, timeout time.Duration, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, skiffBin, args...)
	cmd.Env = childEnv(env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	begin := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(begin), timedOut: ctx.Err() != nil}
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.code = 0
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running %s %s: %v", skiffBin, strings.Join(args, " "), err)
	}
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers
	}
	return r
}

// expectUsageError asserts that r is a refusal: it ended by itself, with a
// non-zero status, and stderr has a line starting "skiff: " that contains
// every one of want (case-insensitively).
func expectUsageError(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.timedOut {
		t.Errorf("skiff did not exit by itself within %v (killed); want a prompt refusal\nstderr tail:\n%s", r.took.Round(time.Millisecond), tailString(r.stderr, 30))
		return
	}
	if r.code == 0 {
		t.Errorf("skiff exited 0; want a non-zero exit status\nstderr tail:\n%s", tailString(r.stderr, 30))
	}
	if r.code < 0 {
		t.Errorf("skiff died from a signal; want a plain non-zero exit status")
	}
	var lines []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "skiff: ") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) == 0 {
		t.Errorf("stderr has no line starting with %q; want one saying what is wrong and what to do\nstderr tail:\n%s", "skiff: ", tailString(r.stderr, 30))
		return
	}
	for _, l := range lines {
		if containsAllFold(l, want) {
			t.Logf("exit %d after %v: %s", r.code, r.took.Round(time.Millisecond), l)
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

func httpGet(hc *http.Client, url string) (int, string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
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

// poll calls f every interval until it returns true or ctx ends; it returns
// the last error f gave (for the failure message) and whether f succeeded.
func poll(ctx context.Context, interval time.Duration, f func() (bool, error)) (bool, error) {
	var last error
	for {
		ok, err := f()
		if ok {
			return true, nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return false, last
		case <-time.After(interval):
		}
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// logNoise marks log lines that repeat by the hundred while a component
// retries, and would push everything useful out of the tail.
var logNoise = []string{"addrConn.createTransport failed to connect"}

// tailFile returns the last n lines of the server log, without noise lines
// (it says how many it left out).
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	var kept []string
	dropped := 0
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if containsAny(l, logNoise) {
			dropped++
			continue
		}
		kept = append(kept, l)
	}
	out := tailString(strings.Join(kept, "\n"), n)
	if dropped > 0 {
		out += fmt.Sprintf("\n(%d lines matching %q left out)", dropped, logNoise)
	}
	return out
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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
