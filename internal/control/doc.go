// Package control runs the upstream Kubernetes control-plane components
// (kube-apiserver, kube-scheduler, kube-controller-manager) as goroutines of
// the skiff process. Each is built the way its own command builds it — options,
// flags, complete, validate — but run with skiff's context, because the
// upstream cobra commands install process-wide signal handlers that panic when
// a second one runs in the same process.
package control
