// Command store measures `skiff server --disable-agent` on each datastore:
// mutating API calls per second with the p50/p99 latency of ConfigMap
// creates and updates from concurrent clients, and the store's size on
// disk after the first 1,000 and after -churn updates of 100 objects
// (with the largest size seen on the way, sampled every 5,000 updates).
//
//	go run ./scripts/bench/store -bin ./bin/skiff -stores sqlite,embedded-etcd,embedded-etcd-3,postgres,mariadb,etcd
//
// PostgreSQL, MariaDB and etcd are started from their Debian packages in
// temp dirs (scripts/deps --test installs them), as the tests do.
// embedded-etcd is `--cluster-init` on the host (one member; it takes
// ports 2379 and 2380); embedded-etcd-3 is three servers joined into one
// cluster, each in a node container of -image (internal/e2e/hacluster),
// with the load on the first one's API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/skiff-k8s/skiff/internal/e2e/hacluster"
	"github.com/skiff-k8s/skiff/internal/e2e/harness"
	"github.com/skiff-k8s/skiff/scripts/bench/benchutil"
)

type options struct {
	bin       string
	stores    []string
	clients   int
	ops       int
	churn     int
	objects   int
	keep      bool
	readyWait time.Duration
	image     string
	// root is the repository: embedded-etcd-3 builds a helper from it.
	root string
}

func main() {
	var o options
	var stores string
	flag.StringVar(&o.bin, "bin", "./bin/skiff", "path to the skiff binary")
	flag.StringVar(&stores, "stores", "sqlite,embedded-etcd,embedded-etcd-3,postgres,mariadb,etcd", "datastores to measure, comma-separated: "+strings.Join(storeNames(), ", "))
	flag.IntVar(&o.clients, "clients", 8, "concurrent API clients")
	flag.IntVar(&o.ops, "ops", 4000, "ConfigMap creates, then as many updates, for the throughput figures")
	flag.IntVar(&o.churn, "churn", 100000, "updates of -objects ConfigMaps for the size figures; 0 skips them")
	flag.IntVar(&o.objects, "objects", 100, "ConfigMaps the churn updates in turn")
	flag.BoolVar(&o.keep, "keep", false, "keep the server's data dir and log")
	flag.DurationVar(&o.readyWait, "timeout", 2*time.Minute, "give up on a server not ready after this long")
	flag.StringVar(&o.image, "image", defaultImage(), "node image for embedded-etcd-3 (scripts/image builds it; $SKIFF_IMAGE sets the default)")
	flag.Parse()
	o.stores = strings.Split(stores, ",")
	benchutil.Main(func(ctx context.Context) error { return run(ctx, o) }, "server and database stopped")
}

func run(ctx context.Context, o options) error {
	for _, name := range o.stores {
		if _, ok := stores[name]; !ok {
			return fmt.Errorf("-stores: unknown store %q; known: %s", name, strings.Join(storeNames(), ", "))
		}
	}
	if o.clients < 1 || o.ops < o.clients || (o.churn != 0 && o.churn < 1000) || o.objects < o.clients {
		return errors.New("-clients must be at least 1, -ops and -objects at least -clients, -churn 0 or at least 1000")
	}
	var err error
	if o.bin, _, err = benchutil.Binary(o.bin); err != nil {
		return err
	}
	for _, name := range o.stores {
		if !stores[name].containers {
			continue
		}
		if err := hacluster.CheckImage(ctx, o.image, o.bin); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if o.root, err = harness.RepoRoot("run the bench from inside the repository"); err != nil {
			return err
		}
		break
	}
	benchutil.PrintMachine()
	sizes := ""
	if o.churn > 0 {
		sizes = fmt.Sprintf("; size after 1,000 and %d updates of %d ConfigMaps", o.churn, o.objects)
	}
	fmt.Printf("%d clients; %d creates then %d updates of ConfigMaps%s\n", o.clients, o.ops, o.ops, sizes)
	for _, name := range o.stores {
		if err := measure(ctx, o, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// label is the width of the store's name column.
const label = "%-17s"

func measure(ctx context.Context, o options, name string) error {
	t, err := stores[name].start(ctx, o)
	if err != nil {
		return err
	}
	defer t.stop()
	if t.about != "" {
		fmt.Printf(label+" %s\n", name+":", t.about)
	}

	tput, err := throughput(ctx, t.client, o.clients, o.ops)
	if err != nil {
		return t.fail(err)
	}
	fmt.Printf(label+" %s\n", name+":", tput)
	if o.churn == 0 {
		return nil
	}
	sizes, err := churn(ctx, t.client, o.clients, o.objects, o.churn, t.size)
	if err != nil {
		return t.fail(err)
	}
	fmt.Printf(label+" %s\n", "", sizes)
	return nil
}

// defaultImage is the node image tag the e2e tests use too.
func defaultImage() string {
	if tag := os.Getenv("SKIFF_IMAGE"); tag != "" {
		return tag
	}
	return "skiff/node:dev"
}
