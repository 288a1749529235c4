package checkconfig

import (
	"bytes"
)

// overlay is containerd's overlayfs snapshotter. Without it skiff still
// runs: containerd falls back to the native snapshotter, which copies every
// image layer (internal/containerd, snapshotterFor), so it only warns.
func (h *host) overlay() []Result {
	if !h.Node {
		return nil
	}
	f := feature{name: "overlayfs", modules: []string{"overlay"}, configs: []string{"CONFIG_OVERLAY_FS"}}
	return []Result{h.featureLine(f, h.hasFilesystem("overlay"),
		"containerd then copies every image layer instead (slower, and more disk)", false, "")}
}

// hasFilesystem says whether the kernel has registered fs; a module only
// appears once loaded, and the kernel loads one on the first mount.
func (h *host) hasFilesystem(fs string) bool {
	data, err := h.read("/proc/filesystems")
	if err != nil {
		return false
	}
	for line := range bytes.Lines(data) {
		fields := bytes.Fields(line)
		if len(fields) > 0 && string(fields[len(fields)-1]) == fs {
			return true
		}
	}
	return false
}

// bridgeAndVeth are the pod network on a node: the cni0 bridge and a veth
// pair per pod. With --flannel-backend none the user's CNI brings its own.
func (h *host) bridgeAndVeth() []Result {
	if !h.Node || h.Backend == "none" {
		return nil
	}
	return []Result{
		h.featureLine(feature{name: "bridge", modules: []string{"bridge"}, configs: []string{"CONFIG_BRIDGE"}}, false,
			"the pod network's cni0 bridge needs it", true, ""),
		h.featureLine(feature{name: "veth", modules: []string{"veth"}, configs: []string{"CONFIG_VETH"}}, false,
			"every pod's network interface needs it", true, ""),
	}
}

// vxlan carries pod traffic between nodes with the default backend. An
// agent does not know its cluster's backend before it joins, so there a
// missing vxlan only warns; the overlay then fails with its own clear
// error if the cluster does use it.
func (h *host) vxlan() []Result {
	if !h.Node || (h.Backend != "vxlan" && h.Backend != "") {
		return nil
	}
	f := feature{name: "vxlan", modules: []string{"vxlan"}, configs: []string{"CONFIG_VXLAN"}}
	return []Result{h.featureLine(f, false, "the vxlan pod network (--flannel-backend vxlan, the default) needs it",
		h.Backend == "vxlan", "choose --flannel-backend host-gw (nodes on one L2 network)")}
}
