// Package multicall lets the one skiff binary act as the tools it bundles:
// ctr, crictl (and kubectl, which lives in internal/kubectl).
// main asks Resolve which tool the process was called as and hands over to
// that tool's entry point.
//
// containerd and its runc shim are not among them: the skiff binary is too
// large for either (each start would run the initialisation of every
// Kubernetes package and map most of 200 MB, once per pod for the shim).
// scripts/bundle builds containerd's own, small and static, into the
// embedded bundle.
package multicall
