// Package join is how a node becomes part of a cluster: the supervisor's
// /v1-skiff endpoints on the server side, and the agent's client for them.
//
// An agent trusts nothing it has not checked: it fetches /cacerts without
// verification, compares its hash with the one in the token, and from then
// on talks TLS against that CA. It authenticates with the token's
// credentials (HTTP basic auth) and names itself with a node name and a
// node password that only it knows; the server keeps a hash of that password
// so that no second machine can take over a node's name. It sends
// certificate requests, never keys, and receives certificates that say only
// what the server decides: the node's identity and addresses.
package join
