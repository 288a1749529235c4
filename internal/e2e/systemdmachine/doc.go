// Package systemdmachine runs machines for install.sh: Debian containers
// with systemd as PID 1 (the image scripts/image-systemd builds), started
// with dockerharness's near-privileged flags, where skiff is installed the
// way a user installs it, `curl -sfL <url>/install.sh | sh -`, from
// release files served over HTTP on the host.
//
// The installer's end-to-end test (internal/e2e/install) and its
// benchmark (scripts/bench/install) share it. Nothing here takes a
// *testing.T, so that a program can use it: every call returns its error,
// and a test wraps it in its own Fatal and Cleanup.
package systemdmachine
