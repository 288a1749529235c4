// Package hacluster runs skiff servers on embedded etcd as node containers
// of the project's image (the first with --cluster-init, the others
// joining it with --server and the server token), for programs as well as
// tests: every step returns an error instead of failing a test, so the
// benchmarks under scripts/bench can use it as TestE2EHA does.
//
// It knows which server's member leads (members/, a small etcd client
// copied into a server container: etcd's client port listens on loopback
// only), kills and restarts a server's container, and gives host-side
// clients of each server's API. Everything it created is removed by Close.
package hacluster
