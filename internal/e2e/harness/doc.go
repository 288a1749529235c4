// Package harness holds what the end-to-end test packages of skiff share:
// finding the binary under test and the repository root, the root check,
// free ports, short scratch dirs, the environment of child processes,
// running skiff in the background with its log captured (and its tail dumped
// when a test fails), short-lived skiff runs, `skiff kubectl`, polling, and
// clients from a written kubeconfig, and Workload, the API check every
// datastore must pass.
//
// It is not a test package so that internal/e2e and internal/e2e/node can
// both import it; each keeps its own specifics (command lines, readiness,
// cleanup) in its harness_test.go. PackChart packs the small Helm charts
// the tests and the Helm bench make.
package harness
