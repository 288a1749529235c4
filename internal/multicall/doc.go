// Package multicall lets the one skiff binary act as the tools it bundles:
// containerd, ctr, crictl (and kubectl, which lives in internal/kubectl).
// main asks Resolve which tool the process was called as and hands over to
// that tool's entry point.
//
// The runc shim is not one of them: one runs per pod, and the skiff binary
// is too large for that (each start would run the initialisation of every
// Kubernetes package and map most of 200 MB). scripts/bundle builds
// containerd's own shim, small and static, into the embedded bundle.
package multicall
