// Package containerd runs the node's containerd as a child process of skiff,
// so that containers and their shims outlive skiff itself. The binary is
// containerd's own, from the embedded bundle (see scripts/bundle): the
// skiff binary called containerd would map a second copy of Kubernetes. It writes containerd's
// config (or the user's template of it), turns /etc/skiff/registries.yaml
// into containerd's hosts directory, restarts containerd if it dies, and
// never touches shims or containers when it stops.
package containerd
