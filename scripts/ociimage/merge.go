package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// Merge writes one tarball holding every image of the tarballs given (each
// as Write makes them): a release's airgap images file, which a node
// imports with one containerd import.
func Merge(w io.Writer, tarballs ...[]byte) error {
	idx := index{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: []descriptor{}}
	var docker []dockerManifest
	blobs := map[string]blob{}
	for n, t := range tarballs {
		files, err := readLayout(t)
		if err != nil {
			return fmt.Errorf("image tarball %d: %w", n+1, err)
		}
		var in index
		if err := json.Unmarshal(files["index.json"], &in); err != nil {
			return fmt.Errorf("image tarball %d: index.json: %w", n+1, err)
		}
		idx.Manifests = append(idx.Manifests, in.Manifests...)
		var d []dockerManifest
		if err := json.Unmarshal(files["manifest.json"], &d); err != nil {
			return fmt.Errorf("image tarball %d: manifest.json: %w", n+1, err)
		}
		docker = append(docker, d...)
		for name, data := range files {
			if digest, ok := strings.CutPrefix(name, "blobs/sha256/"); ok {
				blobs[digest] = blob{digest: "sha256:" + digest, data: data}
			}
		}
	}
	// Blobs by digest: the same inputs give the same bytes.
	var sorted []blob
	for _, digest := range slices.Sorted(maps.Keys(blobs)) {
		sorted = append(sorted, blobs[digest])
	}
	return writeLayout(w, idx, docker, sorted)
}

// readLayout returns a tarball's regular files by name.
func readLayout(t []byte) (map[string][]byte, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(t))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if files[hdr.Name], err = io.ReadAll(tr); err != nil {
			return nil, err
		}
	}
}

func runMerge(out string, inputs []string) error {
	if out == "" {
		return errors.New("-o is required: the tarball to write")
	}
	var tarballs [][]byte
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			return err
		}
		tarballs = append(tarballs, data)
	}
	var buf bytes.Buffer
	if err := Merge(&buf, tarballs...); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
