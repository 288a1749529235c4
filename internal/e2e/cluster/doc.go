// Package cluster holds the multi-node end-to-end tests of skiff: a server
// and agents joined with `skiff agent --server ... --token ...`, each node a
// container of the project's own image (the top-level Dockerfile, built by
// scripts/image) on a user-defined Docker network, the way kind and k3d run
// nodes. The node containers run with DESIGN.md's near-privileged flags
// (these machines refuse --privileged) and each has its own cgroup root (the
// image's entrypoint sees to that).
//
// One test, TestE2ECluster, builds two clusters side by side and checks the
// join, the tunnel, the overlay and node identity on them:
//
//   - cluster A (a server and two agents) for pod-to-pod and Service traffic
//     across nodes, NodePorts, kubectl logs/exec through the server's port
//     alone, node name conflicts, agent restarts, and an agent that stops
//     and comes back;
//   - cluster B (a control-plane-only server) for a bootstrap token from
//     `skiff token create --ttl 1m`, before and after it expires, and as the
//     "other cluster" whose token cannot join A;
//   - agents refused with their one clear line: a wrong token, another
//     cluster's token, an agent token used to join a server;
//   - the built-in addons on every node of A, with the Docker network
//     internal (no way out, as on an offline edge box): the API and
//     cluster DNS from a pod on each node, a local-path claim on an agent,
//     a LoadBalancer Service on every node's IP, kubectl top nodes, and no
//     image pulled.
//
// Containers and networks have a random suffix and are removed (with their
// volumes) at the end; a failed test prints the log tail of every node and
// the cluster's nodes, pods and events first. It needs root and a Docker
// engine, and takes about 2 minutes on 2 cores (up to 4 on a busy box):
//
//	scripts/build && go test ./internal/e2e/cluster/ -count=1 -v -timeout 30m
//
// The test is skipped only under -short (or when docker is not installed).
package cluster
