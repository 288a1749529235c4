// Package agent is the node role: it unpacks the runtime bundle, runs
// containerd as a child process, imports images, and runs the kubelet and
// kube-proxy in-process, as one ordered list of parts (see Parts). The server
// runs the same role in its own process unless --disable-agent.
package agent
