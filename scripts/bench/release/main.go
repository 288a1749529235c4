// Command release measures what a user of a release gets: the size of
// each file in dist/, the time a first start spends unpacking the
// launcher's archive, and exec → node Ready of `skiff server` run from
// dist/skiff on a first start (the archive unpacked then) and on a later
// one (this version already unpacked in the data dir).
//
//	scripts/release amd64 && go run ./scripts/bench/release
//
// Each start is on a fresh data dir, so the two differ only in the
// unpacking. Root is needed (a node).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"
)

func main() {
	dist := flag.String("dist", "./dist", "the folder scripts/release wrote")
	runs := flag.Int("runs", 3, "starts of each kind")
	timeout := flag.Duration("timeout", 3*time.Minute, "give up on a start that takes longer than this")
	flag.Parse()
	benchutil.Main(func(ctx context.Context) error { return run(ctx, *dist, *runs, *timeout) }, "node stopped")
}

func run(ctx context.Context, dist string, runs int, timeout time.Duration) error {
	if os.Geteuid() != 0 {
		return errors.New("a node needs root: run the bench as root")
	}
	bin, _, err := benchutil.Binary(filepath.Join(dist, "skiff"))
	if err != nil {
		return fmt.Errorf("%w (scripts/release amd64 builds it)", err)
	}
	if err := benchutil.RefuseIfRunning(); err != nil {
		return err
	}

	// Unpacking alone: skiff --version on a fresh data dir, then again.
	var unpack, reuse []time.Duration
	for range runs {
		dir, err := os.MkdirTemp("/tmp", "skbr")
		if err != nil {
			return err
		}
		first, err := timeVersion(bin, dir)
		if err == nil {
			var again time.Duration
			again, err = timeVersion(bin, dir)
			reuse = append(reuse, again)
		}
		os.RemoveAll(dir)
		if err != nil {
			return err
		}
		unpack = append(unpack, first)
	}

	var first, later []time.Duration
	for i := range 2 * runs {
		cfg := benchutil.ServerConfig{Bin: bin}
		if i%2 == 1 {
			cfg.Prepare = func(dataDir string) error { _, err := timeVersion(bin, dataDir); return err }
		}
		ready, err := nodeReady(ctx, cfg, timeout)
		if err != nil {
			return err
		}
		if i%2 == 1 {
			later = append(later, ready)
		} else {
			first = append(first, ready)
		}
		fmt.Fprintf(os.Stderr, "start %d (%s): node Ready %s after exec\n", i+1, map[bool]string{false: "first", true: "later"}[i%2 == 1], benchutil.FmtDur(ready))
	}

	benchutil.PrintMachine()
	files, _ := filepath.Glob(filepath.Join(dist, "*"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			fmt.Printf("%-48s %10d bytes  %6.1f MB  %6.1f MiB\n", f, st.Size(), float64(st.Size())/1e6, float64(st.Size())/(1<<20))
		}
	}
	fmt.Printf("skiff --version, fresh data dir (unpacks the archive): %s\n", summary(unpack))
	fmt.Printf("skiff --version, this version already unpacked:        %s\n", summary(reuse))
	fmt.Printf("exec → node Ready, first start (unpacks):              %s\n", summary(first))
	fmt.Printf("exec → node Ready, later start (already unpacked):     %s\n", summary(later))
	fmt.Printf("first start costs %s more (median; target ≤ 1.5 s)\n", benchutil.FmtDur(median(first)-median(later)))
	return nil
}

// timeVersion runs the launcher once with the data dir given.
func timeVersion(bin, dataDir string) (time.Duration, error) {
	cmd := exec.Command(bin, "--version")
	cmd.Env = append(os.Environ(), "SKIFF_DATA_DIR="+dataDir)
	began := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("skiff --version: %w\n%s", err, out)
	}
	return time.Since(began), nil
}

// nodeReady starts a server and returns exec → its node Ready.
func nodeReady(ctx context.Context, cfg benchutil.ServerConfig, timeout time.Duration) (time.Duration, error) {
	srv, err := benchutil.StartServer(cfg)
	if err != nil {
		return 0, err
	}
	defer srv.Cleanup()
	ctx, cancel := srv.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := benchutil.WaitClient(ctx, srv.Kubeconfig)
	if err != nil {
		return 0, srv.Fail(fmt.Errorf("kubeconfig: %w", err))
	}
	if err := benchutil.WaitNodeReady(ctx, client, srv.NodeName, nil); err != nil {
		return 0, srv.Fail(fmt.Errorf("node Ready: %w", err))
	}
	ready := time.Since(srv.Began)
	srv.Stop()
	return ready, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func summary(d []time.Duration) string {
	s := slices.Clone(d)
	slices.Sort(s)
	return fmt.Sprintf("median %s (min %s, max %s, %d runs)", benchutil.FmtDur(median(s)), benchutil.FmtDur(s[0]), benchutil.FmtDur(s[len(s)-1]), len(s))
}
