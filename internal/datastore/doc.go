// Package datastore runs kine, which speaks the etcd API to the apiserver on
// a unix socket and stores the cluster's state in SQLite (the default), MySQL,
// Postgres or NATS; an etcd endpoint is passed through untouched.
package datastore
