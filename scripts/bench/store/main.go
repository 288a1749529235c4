// Command store measures `skiff server --disable-agent` on each datastore:
// mutating API calls per second with the p50/p99 latency of ConfigMap
// creates and updates from concurrent clients, and the store's size on
// disk after the first 1,000 and after -churn updates of 100 objects
// (with the largest size seen on the way, sampled every 5,000 updates).
//
//	go run ./scripts/bench/store -bin ./bin/skiff -stores sqlite,postgres,mariadb,etcd
//
// PostgreSQL, MariaDB and etcd are started from their Debian packages in
// temp dirs (scripts/deps --test installs them), as the tests do.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

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
}

func main() {
	var o options
	var stores string
	flag.StringVar(&o.bin, "bin", "./bin/skiff", "path to the skiff binary")
	flag.StringVar(&stores, "stores", "sqlite,postgres,mariadb,etcd", "datastores to measure, comma-separated: "+strings.Join(storeNames(), ", "))
	flag.IntVar(&o.clients, "clients", 8, "concurrent API clients")
	flag.IntVar(&o.ops, "ops", 4000, "ConfigMap creates, then as many updates, for the throughput figures")
	flag.IntVar(&o.churn, "churn", 100000, "updates of -objects ConfigMaps for the size figures")
	flag.IntVar(&o.objects, "objects", 100, "ConfigMaps the churn updates in turn")
	flag.BoolVar(&o.keep, "keep", false, "keep the server's data dir and log")
	flag.DurationVar(&o.readyWait, "timeout", 2*time.Minute, "give up on a server not ready after this long")
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
	if o.clients < 1 || o.ops < o.clients || o.churn < 1000 || o.objects < o.clients {
		return errors.New("-clients must be at least 1, -ops and -objects at least -clients, -churn at least 1000")
	}
	bin, _, err := benchutil.Binary(o.bin)
	if err != nil {
		return err
	}
	benchutil.PrintMachine()
	fmt.Printf("%d clients; %d creates then %d updates of ConfigMaps; size after 1,000 and %d updates of %d ConfigMaps\n",
		o.clients, o.ops, o.ops, o.churn, o.objects)
	for _, name := range o.stores {
		if err := measure(ctx, o, bin, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func measure(ctx context.Context, o options, bin, name string) error {
	st, err := stores[name].start()
	if err != nil {
		return fmt.Errorf("starting the store: %w", err)
	}
	defer st.stop()
	srv, err := startServer(ctx, bin, st.args, o.keep, o.readyWait)
	if err != nil {
		return err
	}
	defer srv.Cleanup()
	client, err := adminClient(srv)
	if err != nil {
		return err
	}

	tput, err := throughput(ctx, client, o.clients, o.ops)
	if err != nil {
		return srv.Fail(err)
	}
	fmt.Printf("%-14s %s\n", name+":", tput)

	size := func() (int64, error) { return st.size(srv.DataDir) }
	sizes, err := churn(ctx, client, o.clients, o.objects, o.churn, size)
	if err != nil {
		return srv.Fail(err)
	}
	fmt.Printf("%-14s %s\n", "", sizes)
	return nil
}
