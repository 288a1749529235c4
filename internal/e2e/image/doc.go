// Package image holds the end-to-end tests of the skiff node image (the
// top-level Dockerfile, built by scripts/image): nodes that are Docker
// containers, as kind and k3d run them.
//
// The tests build the image when it is missing or older than bin/skiff, then
// run node containers with the near-privileged flags of DESIGN.md (these
// machines refuse --privileged), and talk to them only through `docker` and
// the tools inside the image. They need root and a Docker engine; without a
// `docker` command they are skipped, saying so. Every container is removed
// with its volumes at the end.
//
//	scripts/build && go test ./internal/e2e/image/ -run TestE2E -count=1 -v
//
// Every test is named TestE2E... and is skipped only under -short (or when
// docker is not installed).
package image
