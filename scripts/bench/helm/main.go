// Command helm measures skiff's Helm controller and the ingress it installs
// by default, the way a user runs them: `skiff server` on fresh data dirs
// with the test image preloaded (airgap), and
//
//   - exec → Traefik answering an Ingress: a Deployment of the test image,
//     its Service and an Ingress for host whoami.local that names no class
//     are created as soon as the API accepts them, and the node's address
//     is asked on port 80 with that Host until the pod answers; -runs
//     times, each on a fresh data dir, with the node Ready, Traefik's
//     HelmChart deployed and its pod Ready on the way;
//   - Traefik's memory: its process and its shim, after -idle, on the last
//     of those runs;
//   - HelmChart created → its release deployed (the status's Deployed
//     condition true), for a chart of 10 objects without pods made here,
//     -charts distinct HelmCharts one after another, and an upgrade (new
//     valuesContent → revision 2 deployed), with --disable traefik so that
//     nothing else installs meanwhile;
//   - the server process's idle memory with --disable traefik (the
//     controller on, no chart), after one chart was installed, and with
//     --disable helm-controller: the differences are what the controller
//     adds.
//
// A node is host-global: the bench refuses to start if skiff already runs,
// and ends each server with `skiff killall`, which leaves the host clean.
//
//	go run ./scripts/bench/helm -bin ./bin/skiff -runs 3
package main

import (
	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"

	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

const (
	testImage = "docker.io/skiff/test-http:v1"
	// mb is a megabyte as the targets count it.
	mb = 1e6
)

type options struct {
	bin      string
	imageTar string
	runs     int
	charts   int
	memRuns  int
	idle     time.Duration
	keep     bool
	timeout  time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "./bin/skiff", "path to the skiff binary")
	flag.StringVar(&o.imageTar, "image", "./build/images/skiff-test-http.tar", "tarball of "+testImage+", preloaded into <data-dir>/agent/images")
	flag.IntVar(&o.runs, "runs", 3, "fresh starts timed to Traefik answering an Ingress")
	flag.IntVar(&o.charts, "charts", 5, "distinct HelmCharts of 10 objects installed one after another")
	flag.IntVar(&o.memRuns, "mem-runs", 1, "pairs of servers (--disable traefik, --disable helm-controller) whose idle memory is read")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "how long a server idles before its memory is read")
	flag.BoolVar(&o.keep, "keep", false, "keep each data dir and server log (killall still runs)")
	flag.DurationVar(&o.timeout, "timeout", 4*time.Minute, "give up on a phase that takes longer than this")
	flag.Parse()
	benchutil.Main(func(ctx context.Context) error { return run(ctx, o) }, "node stopped")
}

func run(ctx context.Context, o options) error {
	if o.runs < 1 || o.charts < 1 || o.memRuns < 1 {
		return errors.New("-runs, -charts and -mem-runs must be at least 1")
	}
	bin, size, image, err := benchutil.NodeInputs(o.bin, o.imageTar)
	if err != nil {
		return err
	}
	base := benchutil.ServerConfig{Bin: bin, Images: map[string][]byte{filepath.Base(o.imageTar): image}, Keep: o.keep}

	var ingress []ingressTimes
	var traefik *traefikMemory
	for i := range o.runs {
		last := i == o.runs-1
		t, mem, err := ingressRun(ctx, o, base, last)
		if err != nil {
			return fmt.Errorf("ingress run %d: %w", i+1, err)
		}
		fmt.Fprintf(os.Stderr, "run %d: %s\n", i+1, t)
		ingress = append(ingress, t)
		if last {
			traefik = mem
		}
	}

	var charts chartTimes
	var mem []memoryRun
	for i := range o.memRuns {
		m, err := memoryPair(ctx, o, base, &charts, i == 0)
		if err != nil {
			return fmt.Errorf("memory run %d: %w", i+1, err)
		}
		mem = append(mem, m)
	}

	benchutil.PrintMachine()
	fmt.Printf("binary: %s, %.1f MiB (%.1f MB)\n", bin, float64(size)/(1<<20), float64(size)/mb)
	printIngress(ingress)
	traefik.print(o.idle)
	charts.print(o.charts)
	printMemory(mem, o.idle)
	return nil
}
