// Package network is the single-node pod network: IP forwarding and
// bridge netfilter, skiff's own iptables chains (masquerade for traffic
// leaving the cluster CIDR, and forwarding past a FORWARD policy of DROP),
// and the CNI conflist (bridge, portmap, bandwidth) that containerd's CRI
// reads once the node has been given its pod CIDR.
//
// What it installs outlives skiff: Stop leaves it so that pods keep their
// network while skiff restarts. Teardown removes it.
package network
