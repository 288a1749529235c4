// Command pack writes a bundle archive: the files given, under bin/, with
// their sha256 sums, as a reproducible zstd tarball.
//
// The archive skiff embeds, and beside it, in <archive>.sha256, the
// archive's own sha256, which names the folder it unpacks into (so that
// skiff need not hash it at every start):
//
//	go run ./internal/bundle/pack -o embedded/bundle.tar.zst build/bundle/bin/*
//
// A release's download: the launcher with the archive of skiff and its
// runtime appended (internal/launcher), compressed by the zstd command
// given, whose long window finds what the Go binaries share:
//
//	go run ./internal/bundle/pack -launcher build/release/launcher \
//	    -zstd "zstd -19 --long=27" -o dist/skiff build/release/skiff build/bundle/bin/*
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/skiff-k8s/skiff/internal/bundle/archive"
	"github.com/skiff-k8s/skiff/internal/fsutil"
	"github.com/skiff-k8s/skiff/internal/launcher"
)

func main() {
	var o options
	flag.StringVar(&o.out, "o", "", "file to write")
	flag.StringVar(&o.launcher, "launcher", "", "write this launcher binary with the archive appended, instead of the archive and its .sha256")
	flag.StringVar(&o.zstd, "zstd", "", "compress with this zstd command line (reading the tar on stdin) instead of Go's zstd")
	flag.Parse()
	o.files = flag.Args()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "pack:", err)
		os.Exit(1)
	}
}

type options struct {
	out, launcher, zstd string
	files               []string
}

func run(o options) error {
	if o.out == "" || len(o.files) == 0 {
		return errors.New("usage: pack [-launcher FILE] [-zstd COMMAND] -o OUT file...")
	}
	var files []archive.File
	for _, p := range o.files {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, archive.File{Name: filepath.Base(p), Mode: 0o755, Data: data})
	}
	packed, err := compress(files, o.zstd)
	if err != nil {
		return err
	}
	if o.launcher != "" {
		bin, err := os.ReadFile(o.launcher)
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := launcher.Append(&out, bin, packed); err != nil {
			return err
		}
		return fsutil.WriteFile(o.out, out.Bytes(), 0o755)
	}
	if err := fsutil.WriteFile(o.out, packed, 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(packed)
	return fsutil.WriteFile(o.out+".sha256", []byte(hex.EncodeToString(sum[:])+"\n"), 0o644)
}

// compress writes the archive with Go's zstd, or through the command.
func compress(files []archive.File, command string) ([]byte, error) {
	var out bytes.Buffer
	if command == "" {
		err := archive.Write(&out, files)
		return out.Bytes(), err
	}
	var tarball bytes.Buffer
	if err := archive.WriteTar(&tarball, files); err != nil {
		return nil, err
	}
	args := strings.Fields(command)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = &tarball, &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("compressing with %q: %w", command, err)
	}
	return out.Bytes(), nil
}
