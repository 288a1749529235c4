// Package benchutil holds what the benchmark programs under scripts/bench
// share, one file per job:
//
//   - benchutil.go: running a bench until it ends or is interrupted, the
//     binary under test, durations, a log's tail;
//   - server.go: a `skiff server` with its node on a fresh data dir, its
//     images preloaded, stopped and cleaned up with `skiff killall`;
//   - skiffs.go: the skiff processes already on the host, and killall;
//   - client.go: a client from the admin kubeconfig, waiting for a Node;
//   - klog.go: when a line was logged, from klog's timestamp;
//   - proc.go: one process's memory and CPU from /proc;
//   - nodeprocs.go: a node's processes sorted into server, containerd,
//     shims and what runs in containers;
//   - stats.go: median, min and max of repeated timings;
//   - machine.go, ports.go: machine facts, free ports.
package benchutil
