// Package archive is the format of skiff's bundle: a zstd tarball, with
// zstd's content checksum, whose first entry, sha256sums, lists the sha256
// of every other entry, each a file under bin/. Write makes one
// (scripts/bundle, through internal/bundle/pack); Unpack writes one out and
// checks it (internal/bundle, at start). It embeds nothing, so the pack
// program builds before the bundle exists.
package archive
