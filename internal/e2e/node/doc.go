// Package node holds the end-to-end tests of skiff's node: `skiff server`
// with its agent, running real containers from the test image
// (build/images/skiff-test-http.tar, dropped into <data-dir>/agent/images).
//
// A node is host-global (containerd's socket, /var/lib/kubelet, port 10250,
// cni0, kube-proxy's iptables chains), so these tests never run in parallel
// with each other, and each ends with `skiff killall`. The server-only tests
// of the parent package may run beside them. Run them as root:
//
//	scripts/build && go test ./internal/e2e/node/ -run TestE2E -count=1 -v
//
// Every test is named TestE2E... and is skipped only under -short.
package node
