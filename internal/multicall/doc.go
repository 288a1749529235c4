// Package multicall lets the one skiff binary act as the tools it bundles:
// containerd, containerd-shim-runc-v2, ctr, crictl (and kubectl, which lives
// in internal/kubectl). main asks Resolve which tool the process was called
// as and hands over to that tool's entry point.
//
// Because every tool shares one process image, it also shares containerd's
// one global plugin registry, which holds both the daemon's builtins and the
// runc shim's task plugin. Containerd and Shim each filter that registry down
// to what their role needs before they run.
package multicall
