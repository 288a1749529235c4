// Package kubelet runs the upstream kubelet as a goroutine of skiff. Its
// settings are written as a KubeletConfiguration file (so that a user can read
// what the kubelet was told) and loaded the way the kubelet loads its own
// --config, with --kubelet-arg flags applied on top.
package kubelet
