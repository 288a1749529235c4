// Package tunnel is the reverse tunnel that lets the kube-apiserver reach
// kubelets (logs, exec, attach, port-forward, metrics) and pods on nodes it
// cannot dial, such as agents behind NAT.
//
// The agent's Client dials the supervisor port (through the client load
// balancer), sends an HTTP/1.1 request with "Upgrade: skiff-tunnel" to
// /v1-skiff/connect, and once the server answers 101 both ends run a yamux
// session over that one TLS connection. The server is the side that opens
// streams: each stream is one TCP connection the server asks the agent to
// make on its behalf. A stream starts with a small header naming the
// target; the agent checks it against its Allow rule (only the kubelet port
// on the node's own addresses and addresses in its pod CIDR), dials, and
// answers with a status so that a refused or failed dial is an error to the
// dialler rather than an unexplained EOF.
//
// On the server, Server.Dial picks the tunnel of the node that owns the
// address (its InternalIP/ExternalIP at its kubelet port, or any address in
// its spec.podCIDRs, as its Node object says) and dials directly otherwise.
// The in-process kube-apiserver reaches Dial through its egress selector:
// WriteEgressConfig writes an EgressSelectorConfiguration that sends the
// "cluster" egress through an HTTP CONNECT proxy on a unix socket, which the
// Server serves.
//
// rancher/remotedialer, which k3s uses, needs a newer Go than ours; this is a
// deliberately small protocol of our own on top of hashicorp/yamux.
package tunnel
