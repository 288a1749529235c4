// Command server measures `skiff server --disable-agent` the way a user runs
// it: time from exec to a 200 "ok" from /readyz on a fresh data dir (cold) and
// on an existing one (warm), and the resident memory after idling. With
// -etcd it measures the same with --cluster-init (embedded etcd) right
// after, so the two stores are compared on one run of the machine.
//
//	go run ./scripts/bench/server -bin ./bin/skiff -runs 5 -idle 30s [-etcd]
package main

import (
	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"

	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"
)

type options struct {
	bin     string
	runs    int
	idle    time.Duration
	keep    bool
	timeout time.Duration
	etcd    bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "./bin/skiff", "path to the skiff binary")
	flag.IntVar(&o.runs, "runs", 5, "number of cold runs and of warm runs")
	flag.DurationVar(&o.idle, "idle", 30*time.Second, "how long the last warm run idles before its RSS is read")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary data dirs and server logs")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up on a run that is not ready after this long")
	flag.BoolVar(&o.etcd, "etcd", false, "also measure --cluster-init (embedded etcd; needs ports 2379 and 2380 free)")
	flag.Parse()
	benchutil.Main(func(ctx context.Context) error { return run(ctx, o) }, "server stopped")
}

func run(ctx context.Context, o options) error {
	if o.runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	bin, size, err := benchutil.Binary(o.bin)
	if err != nil {
		return err
	}
	type store struct {
		name string
		args []string
	}
	stores := []store{{"SQLite", nil}}
	if o.etcd {
		stores = append(stores, store{"embedded etcd (--cluster-init)", []string{"--cluster-init"}})
	}
	var reports []string
	for _, st := range stores {
		fmt.Fprintf(os.Stderr, "== %s\n", st.name)
		r, err := measure(ctx, o, bin, st.args)
		if err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		reports = append(reports, fmt.Sprintf("store: %s\n%s", st.name, r))
	}
	benchutil.PrintMachine()
	fmt.Printf("binary: %s, %.1f MiB\n", bin, float64(size)/(1<<20))
	fmt.Print(strings.Join(reports, ""))
	return nil
}

// measure makes the cold and warm runs of one store and returns their
// figures.
func measure(ctx context.Context, o options, bin string, extra []string) (string, error) {
	var dirs []string
	defer func() {
		for _, d := range dirs {
			if o.keep {
				fmt.Fprintln(os.Stderr, "kept", d)
			} else if err := os.RemoveAll(d); err != nil {
				fmt.Fprintln(os.Stderr, "bench: removing", d+":", err)
			}
		}
	}()

	var cold, warm []time.Duration
	var firstDir string
	for i := 1; i <= o.runs; i++ {
		d, err := os.MkdirTemp("", "skiff-bench-")
		if err != nil {
			return "", err
		}
		dirs = append(dirs, d)
		if firstDir == "" {
			firstDir = d
		}
		s, err := startServer(ctx, bin, d, o.timeout, extra)
		if err != nil {
			return "", fmt.Errorf("cold run %d: %w", i, err)
		}
		fmt.Fprintf(os.Stderr, "cold run %d: ready in %s\n", i, benchutil.FmtDur(s.ready))
		cold = append(cold, s.ready)
		if err := s.stop(); err != nil {
			return "", fmt.Errorf("cold run %d: %w", i, err)
		}
	}

	var rss rssReport
	for i := 1; i <= o.runs; i++ {
		s, err := startServer(ctx, bin, firstDir, o.timeout, extra)
		if err != nil {
			return "", fmt.Errorf("warm run %d: %w", i, err)
		}
		fmt.Fprintf(os.Stderr, "warm run %d: ready in %s\n", i, benchutil.FmtDur(s.ready))
		warm = append(warm, s.ready)
		if i == o.runs {
			fmt.Fprintf(os.Stderr, "idling %s\n", o.idle)
			select {
			case <-ctx.Done():
				s.kill()
				return "", ctx.Err()
			case err := <-s.exited:
				return "", fmt.Errorf("warm run %d: server exited while idle: %v (log: %s)", i, err, s.logPath)
			case <-time.After(o.idle):
			}
			rss, err = readRSS(s.cmd.Process.Pid)
			if err != nil {
				s.kill()
				return "", fmt.Errorf("reading RSS: %w", err)
			}
		}
		if err := s.stop(); err != nil {
			return "", fmt.Errorf("warm run %d: %w", i, err)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "cold start to /readyz: %s\n", summary(cold))
	fmt.Fprintf(&b, "warm start to /readyz: %s\n", summary(warm))
	if rss.children == 0 {
		fmt.Fprintf(&b, "idle RSS after %s: %.1f MiB (anonymous %.1f, file-backed %.1f)\n", o.idle, rss.self, rss.anon, rss.file)
	} else {
		fmt.Fprintf(&b, "idle RSS after %s: %.1f MiB server, %.1f MiB with %d child processes\n",
			o.idle, rss.self, rss.self+rss.childSum, rss.children)
	}
	return b.String(), nil
}

type server struct {
	cmd     *exec.Cmd
	logPath string
	ready   time.Duration
	exited  chan error
}

// startServer execs the server on dir and waits until /readyz says ok. On
// any error the server is killed before returning.
func startServer(ctx context.Context, bin, dir string, timeout time.Duration, extra []string) (*server, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	port, err := benchutil.FreeServerPorts()
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig.yaml")
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "\n==== bench: %s port %d ====\n", time.Now().Format(time.RFC3339), port)

	cmd := exec.Command(bin, append([]string{"server", "--disable-agent",
		"--data-dir", dir,
		"--https-listen-port", strconv.Itoa(port),
		"--write-kubeconfig", kubeconfig,
		"--bind-address", "127.0.0.1"}, extra...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group: Ctrl-C reaches only the bench, which then stops
	// the server (and anything it started) itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, logPath: logPath, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()

	ready, err := waitReady(ctx, s, kubeconfig, port, began.Add(timeout))
	if err != nil {
		s.kill()
		return nil, fmt.Errorf("%w\n%s", err, benchutil.Tail(logPath, 20))
	}
	s.ready = ready.Sub(began)
	return s, nil
}

func waitReady(ctx context.Context, s *server, kubeconfig string, port int, deadline time.Time) (time.Time, error) {
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", port)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var client *http.Client
	var loaded time.Time // mtime of the kubeconfig client was built from
	lastErr := errors.New("kubeconfig not written yet")
	for {
		// (Re)load the kubeconfig whenever it is (re)written: on a warm
		// start the previous run's file is there until the server
		// rewrites it.
		if fi, err := os.Stat(kubeconfig); err == nil && !fi.ModTime().Equal(loaded) {
			if c, err := adminClient(kubeconfig); err == nil {
				if client != nil {
					client.CloseIdleConnections()
				}
				client, loaded = c, fi.ModTime()
			} else {
				lastErr = err
			}
		}
		if client != nil {
			ok, err := poll(ctx, client, url)
			if ok {
				t := time.Now()
				client.CloseIdleConnections()
				return t, nil
			}
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case err := <-s.exited:
			s.exited <- err
			return time.Time{}, fmt.Errorf("server exited before ready: %v (log: %s)", err, s.logPath)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("not ready in time; last: %v (log: %s)", lastErr, s.logPath)
		}
	}
}

func poll(ctx context.Context, c *http.Client, url string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ok" {
		return true, nil
	}
	return false, fmt.Errorf("/readyz: %d %q", resp.StatusCode, firstLine(string(body)))
}

// kubeconfig is the part of a kubeconfig the bench needs.
type kubeconfig struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			CA     string `json:"certificate-authority"`
			CAData string `json:"certificate-authority-data"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Cert     string `json:"client-certificate"`
			CertData string `json:"client-certificate-data"`
			Key      string `json:"client-key"`
			KeyData  string `json:"client-key-data"`
			Token    string `json:"token"`
		} `json:"user"`
	} `json:"users"`
	Contexts []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
}

// adminClient builds an HTTPS client from the admin kubeconfig: its CA and
// client certificate (or token). The server address is the bench's own.
func adminClient(path string) (*http.Client, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(raw, &kc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	clusterName, userName := "", ""
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext || kc.CurrentContext == "" {
			clusterName, userName = c.Context.Cluster, c.Context.User
			break
		}
	}
	base := filepath.Dir(path)
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		ca, err := dataOrFile(c.Cluster.CAData, c.Cluster.CA, base)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig CA: %w", err)
		}
		if len(ca) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				return nil, errors.New("kubeconfig CA has no certificates")
			}
			tlsConfig.RootCAs = pool
		}
	}
	token := ""
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		certPEM, err := dataOrFile(u.User.CertData, u.User.Cert, base)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig client certificate: %w", err)
		}
		keyPEM, err := dataOrFile(u.User.KeyData, u.User.Key, base)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig client key: %w", err)
		}
		if len(certPEM) > 0 {
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig client certificate: %w", err)
			}
			tlsConfig.Certificates = []tls.Certificate{cert}
		}
		token = u.User.Token
	}
	if tlsConfig.RootCAs == nil || (len(tlsConfig.Certificates) == 0 && token == "") {
		return nil, fmt.Errorf("kubeconfig %s has no CA or no credentials for context %q", path, kc.CurrentContext)
	}
	var rt http.RoundTripper = &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true}
	if token != "" {
		rt = bearer{token: token, rt: rt}
	}
	return &http.Client{Transport: rt}, nil
}

type bearer struct {
	token string
	rt    http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}

func dataOrFile(data, file, base string) ([]byte, error) {
	if data != "" {
		return base64.StdEncoding.DecodeString(data)
	}
	if file == "" {
		return nil, nil
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(base, file)
	}
	return os.ReadFile(file)
}

// stop sends SIGTERM and waits; after 30s it kills the process group.
func (s *server) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			fmt.Fprintf(os.Stderr, "warning: server exited with %v after SIGTERM (log: %s)\n", err, s.logPath)
		} else if err != nil {
			return err
		}
		// Reap anything the server left in its group.
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		return nil
	case <-time.After(30 * time.Second):
		s.kill()
		return fmt.Errorf("server did not stop within 30s of SIGTERM (log: %s)", s.logPath)
	}
}

// kill ends the server's process group at once and waits for the server.
func (s *server) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case err := <-s.exited:
		s.exited <- err
	case <-time.After(10 * time.Second):
	}
}

type rssReport struct {
	self, childSum float64 // MiB
	anon, file     float64 // MiB, of self: private memory vs pages of files (the binary)
	children       int
}

// readRSS reads VmRSS of pid and of all its descendants.
func readRSS(pid int) (rssReport, error) {
	var r rssReport
	self, err := vmRSS(pid)
	if err != nil {
		return r, err
	}
	r.self = self
	r.anon, _ = benchutil.StatusMiB(pid, "RssAnon:")
	r.file, _ = benchutil.StatusMiB(pid, "RssFile:")
	parents := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := benchutil.PPID(p); ok {
			parents[p] = pp
		}
	}
	for p := range parents {
		for a, n := parents[p], 0; a > 1 && n < 64; a, n = parents[a], n+1 {
			if a == pid {
				if kb, err := vmRSS(p); err == nil {
					r.childSum += kb
					r.children++
				}
				break
			}
		}
	}
	return r, nil
}

func vmRSS(pid int) (float64, error) { return benchutil.StatusMiB(pid, "VmRSS:") }

func summary(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf("median %s max %s (%d runs)", benchutil.FmtDur(med), benchutil.FmtDur(s[len(s)-1]), len(s))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
