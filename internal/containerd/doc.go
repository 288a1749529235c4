// Package containerd runs the node's containerd as a child process of skiff:
// the same binary, called as "containerd" (see internal/multicall), so that
// containers and their shims outlive skiff itself. It writes containerd's
// config (or the user's template of it), turns /etc/skiff/registries.yaml
// into containerd's hosts directory, restarts containerd if it dies, and
// never touches shims or containers when it stops.
package containerd
