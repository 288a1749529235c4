// Command pack writes the bundle archive that skiff embeds: the files given,
// under bin/, with their sha256 sums, as a reproducible zstd tarball.
//
//	go run ./internal/bundle/pack -o embedded/bundle.tar.zst build/bundle/bin/*
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skiff-k8s/skiff/internal/bundle/archive"
	"github.com/skiff-k8s/skiff/internal/fsutil"
)

func main() {
	out := flag.String("o", "", "archive to write")
	flag.Parse()
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "pack:", err)
		os.Exit(1)
	}
}

func run(out string, paths []string) error {
	if out == "" || len(paths) == 0 {
		return errors.New("usage: pack -o archive.tar.zst file...")
	}
	var files []archive.File
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, archive.File{Name: filepath.Base(p), Mode: 0o755, Data: data})
	}
	var buf bytes.Buffer
	if err := archive.Write(&buf, files); err != nil {
		return err
	}
	return fsutil.WriteFile(out, buf.Bytes(), 0o644)
}
