// Package overlay is the multi-node part of the pod network: it makes the
// pod CIDR of every other node reachable from this one, the job flannel
// does for k3s (and `--flannel-backend` selects the backend, as there).
//
// Backends:
//
//   - vxlan (the default): a vxlan device skiff.vxlan (VNI 1, UDP 8472, the
//     port flannel uses, learning off) whose address is the network address
//     of this node's pod CIDR (/32). Each node publishes the device's MAC and
//     its tunnel endpoint in its Node annotations skiff.io/vtep-mac and
//     skiff.io/public-ip; for every other node this one installs a route to
//     its pod CIDR via that node's pod CIDR network address (onlink, on
//     skiff.vxlan), a permanent neighbour entry for that address with the
//     peer's MAC, and an FDB entry sending that MAC to the peer's IP. No
//     multicast, no learning: the API server is the only source of truth.
//   - host-gw: a route to each other node's pod CIDR via that node's IP.
//     The nodes must share one layer-2 segment.
//   - none: nothing; the user brings their own pod network.
//
// Everything keyed on Node objects is asynchronous: a node gets its pod
// CIDR from the controller-manager only after its kubelet registered it,
// so an informer on Nodes drives a reconcile loop, which also runs
// periodically to put back what someone removed.
//
// The overlay reads all Nodes with the node's own credentials, which the
// Node authorizer no longer allows by itself (Kubernetes 1.34 and later):
// the server must grant it with EnsureRBAC.
//
// IPv4 only: the IPv6 half of a dual-stack cluster is not routed across
// nodes (a line in the log says so).
//
// What the overlay installs outlives skiff, as the rest of the pod network
// does: Stop leaves it so that pods on different nodes keep talking while
// skiff restarts. Teardown (skiff killall) removes it.
package overlay
