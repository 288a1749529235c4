// Package dockerharness holds what the end-to-end tests that run skiff nodes
// as Docker containers share (internal/e2e/image, internal/e2e/cluster):
// finding or building the node image (scripts/image), DESIGN.md's
// near-privileged container flags, creating node containers with the test
// image preloaded into their airgap folder, user-defined networks, `docker
// exec` and kubectl inside a node, polling, and the log dump of a node when a
// test failed.
//
// Everything runs through the `docker` command, as a user would; every
// container and network is removed (with its volumes) in t.Cleanup. It is
// not a test package so that several test packages can import it.
package dockerharness
