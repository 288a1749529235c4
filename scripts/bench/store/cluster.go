package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skiff-k8s/skiff/internal/e2e/hacluster"
)

// startCluster runs three servers on embedded etcd in node containers,
// control plane only like the servers of the other stores, and loads the
// first one's API from the host: one apiserver takes the load, as with
// every other store, and its member replicates each write to the two
// others before the write is answered. Its size is its own member's.
func startCluster(ctx context.Context, o options) (*target, error) {
	c, err := hacluster.Start(ctx, hacluster.Options{
		Root: o.root, Tag: o.image, Prefix: "skbench", Args: []string{"--disable-agent"}, Timeout: o.readyWait,
		Log: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "embedded-etcd-3: "+format+"\n", args...) },
	})
	if err != nil {
		return nil, err
	}
	stop := func() {
		if o.keep {
			fmt.Fprintf(os.Stderr, "kept the containers of network %s (remove them with docker rm -f -v, then docker network rm)\n", c.Network)
			return
		}
		if err := c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	t, err := loadFirst(ctx, o, c)
	if err != nil {
		stop()
		return nil, err
	}
	t.stop = stop
	return t, nil
}

func loadFirst(ctx context.Context, o options, c *hacluster.Cluster) (*target, error) {
	client, err := c.Client(0, 0)
	if err != nil {
		return nil, err
	}
	leader, err := c.Leader(ctx, 0)
	if err != nil {
		return nil, err
	}
	role := "follows; etcd's leader is " + c.Nodes[leader].Name
	if leader == 0 {
		role = "leads"
	}
	vol, err := c.DataDir(ctx, 0)
	if err != nil {
		return nil, err
	}
	return &target{
		client: client,
		size:   func() (int64, error) { return du(filepath.Join(vol, "server/db/etcd")) },
		fail:   func(err error) error { return fmt.Errorf("%w\n%s", err, c.LogTail(0, 25)) },
		about: fmt.Sprintf("3 servers (--disable-agent) in node containers of %s on one host; the load goes to %s's API, whose member %s",
			o.image, c.Nodes[0].Name, role),
	}, nil
}
