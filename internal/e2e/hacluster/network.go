package hacluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
)

// network is a user-defined bridge network with a /24 of its own, as
// dockerharness.CreateNetwork makes for tests: internal (nothing beyond
// the host, as on an edge box), fixed addresses in the lower half so that
// a restarted server keeps its address as a machine would.
type network struct {
	Name   string
	prefix string // "172.29.N."
}

// Addr is the network's address .i.
func (nw *network) Addr(i int) string { return fmt.Sprintf("%s%d", nw.prefix, i) }

// createNetwork tries free 172.29.N.0/24 subnets until one is not taken
// by another run's network.
func createNetwork(ctx context.Context, name string) (*network, error) {
	var last string
	for range 20 {
		prefix := fmt.Sprintf("172.29.%d.", 16+rand.IntN(239))
		out, err := dh.Docker(ctx, nil, "network", "create", "--internal",
			"--subnet", prefix+"0/24", "--ip-range", prefix+"128/25", "--gateway", prefix+"1", name)
		if err == nil {
			return &network{Name: name, prefix: prefix}, nil
		}
		last = out
		if !strings.Contains(out, "overlap") {
			break
		}
	}
	return nil, fmt.Errorf("creating docker network %s: %s", name, last)
}
