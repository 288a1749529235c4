// Package killall stops everything skiff started on this host — the skiff
// server and agent processes, their containerd, the shims and the
// containers under them — and removes what they left in the kernel: mounts,
// pod network namespaces, the pod bridge and its veths, the overlay's vxlan
// device and routes, and the iptables
// chains of skiff, kube-proxy and the CNI plugins. The data dir is left as
// it is, so that starting skiff again brings every workload back.
package killall
