// Package launcher is what a release's skiff binary runs first. The file
// users download is small: this launcher, with the real skiff and the
// runtime it ships (containerd, its runc shim, runc, the CNI plugins)
// appended as one zstd archive. The first start of a version
// unpacks the archive into <data-dir>/data/<sha256 of the archive>/, and
// every start then execs bin/skiff there with the same arguments and name,
// so links named kubectl, crictl and ctr still work.
//
// One archive compressed as a whole, rather than a binary that carries its
// parts each compressed, is what makes the download small: the Go
// binaries in it share their runtime and many libraries, which a long
// compression window finds across files. The archive is package
// bundle/archive's format, so the unpacking is package bundle's: whole or
// not at all, under a lock, checked against zstd's checksum, with
// data/current and data/previous linking the last two versions.
//
// The trailer after the archive says where it starts and names it:
//
//	<launcher binary> <archive> <size: 8 bytes, big endian> <sha256: 64 hex> <magic>
package launcher
