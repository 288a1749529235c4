//go:build tools

package crictl

// Keeps crictl's module, and every module its command needs, in go.mod and
// go.sum, which go mod tidy would otherwise drop: no file here imports them
// in a build (the tools tag is never set).
import _ "sigs.k8s.io/cri-tools/cmd/crictl"
