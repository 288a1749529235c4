// Package ha holds the end-to-end test of skiff's high availability on
// embedded etcd: three servers (the first with --cluster-init, the others
// joining it with --server and the server token) and one agent, each node
// a container of the project's image as in internal/e2e/cluster. It checks
// the membership (with a small etcd client, hacluster/members, copied into
// the server containers: etcd's client port listens on loopback only), the
// kubernetes Service and the agent's load balancer listing every server,
// the shared workload, a writer that loses no acknowledged write while the
// etcd leader's container is killed, the killed server rejoining, a
// server taken out by deleting its Node and replaced by a fresh one,
// refused joins, and a snapshot restored on the running cluster the way a
// k3s user does it (stop every server, --cluster-reset
// --cluster-reset-restore-path on one, the others rejoining as it says).
package ha
