// Package bundle unpacks the binaries that skiff ships beside itself
// (containerd, its runc shim, runc, the CNI plugins) from the zstd tarball
// embedded at build time; the tarball's format is package archive.
//
// A bundle lives at <data-dir>/data/<sha256 of the archive>/bin: a new skiff
// gets a new folder and the previous one is left in place, as k3s does, with
// data/current and data/previous linking to the two. The folder appears whole
// or not at all (unpacked beside it, synced, renamed); what is unpacked is
// checked against zstd's checksum of the archive, and a marker of sizes and
// times lets later starts reuse it without reading it again, while still
// noticing a file that was truncated, replaced or removed.
package bundle
