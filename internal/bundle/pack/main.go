// Command pack writes the bundle archive that skiff embeds: the files given,
// under bin/, with their sha256 sums, as a reproducible zstd tarball; and
// beside it, in <archive>.sha256, the archive's own sha256, which names the
// folder it unpacks into (so that skiff need not hash it at every start).
//
//	go run ./internal/bundle/pack -o embedded/bundle.tar.zst build/bundle/bin/*
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
	if err := fsutil.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(buf.Bytes())
	return fsutil.WriteFile(out+".sha256", []byte(hex.EncodeToString(sum[:])+"\n"), 0o644)
}
