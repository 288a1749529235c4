// Package loadbalancer is the agent's client-side load balancer: a TCP proxy
// on loopback (127.0.0.1:6444 by default) in front of every server the agent
// knows. The kubelet, kube-proxy and the tunnel dial it instead of one
// server, so that they keep working when that server goes away once the
// cluster has several.
//
// The list starts with the address the agent was given (--server) and
// follows the endpoints of the kubernetes Service (Watch); the given address
// always stays in it as the last resort. Each new connection tries the
// current server first and the others in order; a server that cannot be
// reached moves to the back, so the next connection starts with one that
// works. TLS passes through untouched: the clients verify the servers
// themselves.
package loadbalancer
