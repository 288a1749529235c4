// Package snapshot saves, lists, deletes, prunes and restores snapshots of
// a server's store: an online, consistent copy of the SQLite database
// (<data-dir>/server/db/state.db) or of the embedded etcd member
// (<data-dir>/server/db/etcd), one file each in the snapshots folder
// (<data-dir>/server/db/snapshots by default, k3s's place). Files are named
// as k3s names them, <name>-<node-name>-<unix seconds>, so k3s users find
// and prune them the same way.
package snapshot
