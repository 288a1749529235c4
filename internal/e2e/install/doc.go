// Package install tests install.sh the way a user runs it.
//
// The fast tests (install_test.go) run it into a throwaway root
// (INSTALL_SKIFF_ROOT, which also makes it print the service commands
// instead of running them) with a stand-in binary served by a local HTTP
// server: downloads and checksums, what a re-run, an upgrade or a refused
// download change, the unit, the OpenRC script, the environment file, the
// settings, and shellcheck on install.sh and on every script it writes.
//
// The end-to-end test (machine_test.go) runs `curl -sfL .../install.sh |
// sh -` in containers with systemd as PID 1 (scripts/image-systemd),
// downloading the real bin/skiff from an HTTP server in the test: the
// service, re-runs, a refused download, an upgrade that keeps a pod, an
// agent joining, and an uninstall that leaves nothing behind. The machines
// come from internal/e2e/systemdmachine, which scripts/bench/install
// measures the same install with.
package install
