// Package checkconfig tells whether this host can run skiff: the kernel's
// namespaces, cgroup controllers and modules (overlayfs, bridge, veth,
// vxlan, the netfilter matches kube-proxy's rules use), iptables, IP
// forwarding, swap, the data dir's free space and the ports skiff listens
// on. `skiff check-config` prints every check (Run); the server and agent
// run the fast ones that can fail at every start (Start), so that a host
// that cannot work is refused with one line before anything is written,
// instead of the kubelet exiting halfway through.
//
// Every check reads its evidence from files under Options.Root (/proc,
// /sys, /lib/modules, /boot, /etc), so the tests give it a fake tree. A
// check says "missing" only when it is sure; when it cannot tell — a node
// container without /lib/modules, a kernel without its config — it warns
// and the start goes on.
package checkconfig
