// Package etcd runs an embedded etcd (go.etcd.io/etcd/server/v3 embed) in
// the server process: the store of `skiff server --cluster-init` and of the
// servers that join it, replicated across them so that losing one server
// loses nothing. It makes the etcd CA and certificates, starts, joins
// (as a learner, promoted once caught up) and restarts the member, keeps
// the store bounded (compaction, defragmentation), serves the supervisor
// routes through which other servers join, and removes the member of a
// server whose Node is deleted.
package etcd
