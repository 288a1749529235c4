// Package images loads images into the node's containerd before the kubelet
// starts: the pause image and the addons' images (CoreDNS) skiff embeds,
// both pinned so the kubelet's image GC keeps them, and every image tarball in
// <data-dir>/agent/images (the air-gapped way, as in k3s). Each is unpacked
// for CRI's snapshotter so a pod can use it at once, and a file already
// imported unchanged is not imported again. Embedded images that only
// later pods run (Traefik's) are imported last, pinned too, without
// holding up the kubelet.
package images
