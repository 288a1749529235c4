// Package crictl is crictl, the CRI client, linked into skiff: its Main is
// what `skiff crictl` and a link named crictl run (see internal/multicall).
//
// Upstream ships crictl only as a command, so its files are not here:
// scripts/build generates them from the cri-tools module go.mod pins
// (scripts/linkcrictl) and builds skiff with -tags crictl and them as an
// overlay. A skiff built without that (go build .) has a Main that says so.
package crictl
