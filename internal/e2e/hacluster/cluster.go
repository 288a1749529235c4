package hacluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
)

// Options say what cluster to run.
type Options struct {
	// Root is the repository root: the members helper is built from it.
	Root string
	// Tag is the node image (scripts/image builds it).
	Tag string
	// Prefix starts the network's and the containers' names; a random
	// suffix follows it, so that runs on one engine never collide.
	Prefix string
	// Servers is how many servers run; zero means three, the smallest
	// cluster that survives losing one.
	Servers int
	// Args are more arguments for every server, after "server" (for
	// example --disable-agent, for a control plane only).
	Args []string
	// Preload is a tar stream unpacked into each server's /var/lib/skiff
	// before its first start (dockerharness.ImagesTar makes one); nil
	// preloads nothing.
	Preload []byte
	// Log, if set, is told each step as it ends.
	Log func(format string, args ...any)
	// Timeout bounds each wait for a server's API or for the membership;
	// zero means 3 minutes, enough for a loaded 2-core box.
	Timeout time.Duration
}

// Cluster is running server containers on a network of their own. Server
// i (from 0) is Nodes[i], named <prefix>-<suffix>-s<i+1>, at IPs[i].
type Cluster struct {
	Nodes   []*dh.Node
	IPs     []string
	Network string
	// Token is the server token of the first server, which the others
	// joined with.
	Token string
	// Kubeconfig is the first server's admin kubeconfig, on the host;
	// Client points it at any server.
	Kubeconfig string

	o       Options
	dir     string // the members helper and the kubeconfig
	members string // the helper's path on the host
	copied  map[int]bool
}

// Start runs the servers: the first with --cluster-init, then the others
// at once, joining it (etcd takes one learner at a time, so they queue),
// and returns once every API is ready and every member votes. On failure
// it removes what it created and says which server failed, with the end
// of its log.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Servers == 0 {
		o.Servers = 3
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	dir, err := os.MkdirTemp("", "skiff-hacluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{o: o, dir: dir, copied: map[int]bool{}, Kubeconfig: filepath.Join(dir, "admin.yaml")}
	if err := c.start(ctx); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	began := time.Now()
	var err error
	if c.members, err = buildMembers(ctx, c.o.Root, c.dir); err != nil {
		return err
	}
	prefix := c.o.Prefix + "-" + dh.Suffix()
	nw, err := createNetwork(ctx, prefix)
	if err != nil {
		return err
	}
	c.Network = nw.Name
	for i := range c.o.Servers {
		name := fmt.Sprintf("%s-s%d", prefix, i+1)
		c.Nodes = append(c.Nodes, &dh.Node{Name: name})
		c.IPs = append(c.IPs, nw.Addr(11+i))
	}

	if err := c.create(ctx, 0, "--cluster-init"); err != nil {
		return err
	}
	if err := c.WaitAPI(ctx, 0); err != nil {
		return err
	}
	token, err := c.Nodes[0].Exec(ctx, "cat", "/var/lib/skiff/server/token")
	if err != nil {
		return fmt.Errorf("reading the server token of %s: %w: %s", c.Nodes[0].Name, err, token)
	}
	c.Token = strings.TrimSpace(token)
	if out, err := dh.Docker(ctx, nil, "cp", c.Nodes[0].ID+":/etc/skiff/skiff.yaml", c.Kubeconfig); err != nil {
		return fmt.Errorf("copying the admin kubeconfig out of %s: %w: %s", c.Nodes[0].Name, err, out)
	}
	for i := 1; i < c.o.Servers; i++ {
		if err := c.create(ctx, i, "--server", c.URL(0), "--token", c.Token); err != nil {
			return err
		}
	}
	for i := 1; i < c.o.Servers; i++ {
		if err := c.WaitAPI(ctx, i); err != nil {
			return err
		}
	}
	if _, err := c.WaitMembers(ctx, 0); err != nil {
		return err
	}
	c.o.Log("%d servers up, every member voting, %.1fs after the first was created", c.o.Servers, time.Since(began).Seconds())
	return nil
}

// create creates and starts server i with args after the common ones.
func (c *Cluster) create(ctx context.Context, i int, args ...string) error {
	n := c.Nodes[i]
	cargs := []string{"create", "--name", n.Name, "--hostname", n.Name, "--network", c.Network, "--ip", c.IPs[i]}
	cargs = append(cargs, dh.NodeFlags...)
	cargs = append(cargs, c.o.Tag, "server", "--node-name", n.Name)
	cargs = append(cargs, c.o.Args...)
	cargs = append(cargs, args...)
	id, err := docker(ctx, nil, cargs...)
	if err != nil {
		return fmt.Errorf("creating server container %s: %w", n.Name, err)
	}
	n.ID = id
	if c.o.Preload != nil {
		if _, err := docker(ctx, bytes.NewReader(c.o.Preload), "cp", "-", n.ID+":/var/lib/skiff"); err != nil {
			return fmt.Errorf("preloading %s: %w", n.Name, err)
		}
	}
	return c.Start(ctx, i)
}

// Start starts server i's (stopped or killed) container; a server that
// was a member rejoins as the same member.
func (c *Cluster) Start(ctx context.Context, i int) error {
	c.Nodes[i].Started = time.Now()
	if _, err := docker(ctx, nil, "start", c.Nodes[i].ID); err != nil {
		return fmt.Errorf("starting %s: %w", c.Nodes[i].Name, err)
	}
	return nil
}

// Kill kills server i's container (SIGKILL to everything in it: a lost
// machine, as far as the others can tell).
func (c *Cluster) Kill(ctx context.Context, i int) error {
	if _, err := docker(ctx, nil, "kill", c.Nodes[i].ID); err != nil {
		return fmt.Errorf("killing %s: %w", c.Nodes[i].Name, err)
	}
	return nil
}

// URL is server i's API (and join) address, as the host reaches it.
func (c *Cluster) URL(i int) string { return "https://" + c.IPs[i] + ":6443" }

// Client is an admin client of server i's API from the host, with no
// client-side rate limit (a bench measures the server, not client-go's
// throttle), that gives up on a request after timeout (none if zero).
func (c *Cluster) Client(i int, timeout time.Duration) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags(c.URL(i), c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading the admin kubeconfig %s: %w", c.Kubeconfig, err)
	}
	cfg.Timeout = timeout
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	return kubernetes.NewForConfig(cfg)
}

// WaitAPI waits until server i's /readyz says ok, and fails at once if
// its container stops. Once the admin kubeconfig is on the host it asks
// from there, every 200 ms; before, through kubectl in the container.
func (c *Cluster) WaitAPI(ctx context.Context, i int) error {
	n := c.Nodes[i]
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	ready := func(ctx context.Context) (bool, string) {
		out, err := n.Exec(ctx, "kubectl", "get", "--raw", "/readyz")
		return err == nil && out == "ok", out
	}
	every := time.Second
	if _, err := os.Stat(c.Kubeconfig); err == nil {
		cl, err := c.Client(i, 2*time.Second)
		if err != nil {
			return err
		}
		ready = func(ctx context.Context) (bool, string) {
			b, err := cl.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			if err != nil {
				return false, err.Error()
			}
			return string(b) == "ok", string(b)
		}
		every = 200 * time.Millisecond
	}
	for {
		ok, last := ready(ctx)
		if ok {
			c.o.Log("%s: API ready %.1fs after docker start", n.Name, time.Since(n.Started).Seconds())
			return nil
		}
		if running, state := n.IsRunning(); !running {
			return fmt.Errorf("%s stopped before its API was ready (%s)\n%s", n.Name, state, c.LogTail(i, 30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: API not ready within %s (last answer: %s)\n%s", n.Name, c.o.Timeout, last, c.LogTail(i, 30))
		case <-time.After(every):
		}
	}
}

// DataDir is where server i's data dir (its /var/lib/skiff volume) is on
// the host, for reading sizes.
func (c *Cluster) DataDir(ctx context.Context, i int) (string, error) {
	out, err := docker(ctx, nil, "inspect", "-f", `{{range .Mounts}}{{if eq .Destination "/var/lib/skiff"}}{{.Source}}{{end}}{{end}}`, c.Nodes[i].ID)
	if err != nil || out == "" {
		return "", fmt.Errorf("finding the data volume of %s: %v %s", c.Nodes[i].Name, err, out)
	}
	return out, nil
}

// LogTail is the last n lines of server i's log, headed by its name.
func (c *Cluster) LogTail(i, n int) string {
	// docker logs replays the container's stderr on its own stderr.
	b, _ := exec.Command("docker", "logs", "--tail", fmt.Sprint(n), c.Nodes[i].ID).CombinedOutput()
	return fmt.Sprintf("last lines of %s's log:\n  %s", c.Nodes[i].Name, strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n  "))
}

// Close removes the containers (with their volumes), the network and the
// helper's folder, and says what it could not remove.
func (c *Cluster) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, n := range c.Nodes {
		if n.ID == "" {
			continue
		}
		if _, err := docker(ctx, nil, "rm", "-f", "-v", n.ID); err != nil {
			errs = append(errs, fmt.Errorf("removing container %s: %w", n.Name, err))
		}
	}
	if c.Network != "" {
		if _, err := docker(ctx, nil, "network", "rm", c.Network); err != nil {
			errs = append(errs, fmt.Errorf("removing network %s: %w", c.Network, err))
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// docker is dockerharness.Docker with the output in the error, the way
// every caller here reports it.
func docker(ctx context.Context, stdin *bytes.Reader, args ...string) (string, error) {
	var out string
	var err error
	if stdin == nil {
		out, err = dh.Docker(ctx, nil, args...)
	} else {
		out, err = dh.Docker(ctx, stdin, args...)
	}
	if err != nil {
		return out, fmt.Errorf("docker %s: %w: %s", args[0], err, out)
	}
	return out, nil
}

// CheckImage fails unless the node image tag exists and was built after
// the binary at bin was last written: an older image runs another skiff
// than the one under test.
func CheckImage(ctx context.Context, tag, bin string) error {
	out, err := dh.Docker(ctx, nil, "image", "inspect", "-f", "{{.Created}}", tag)
	if err != nil {
		return fmt.Errorf("node image %s: %s (build it with scripts/image, or pass another)", tag, out)
	}
	created, err := time.Parse(time.RFC3339Nano, out)
	if err != nil {
		return fmt.Errorf("node image %s: reading when it was built (%q): %w", tag, out, err)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return err
	}
	if created.Before(fi.ModTime()) {
		return fmt.Errorf("node image %s (built %s) is older than %s (%s): rebuild it with scripts/image",
			tag, created.Format(time.RFC3339), bin, fi.ModTime().Format(time.RFC3339))
	}
	return nil
}
