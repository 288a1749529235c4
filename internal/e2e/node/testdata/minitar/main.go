// Command minitar is the little of tar that `kubectl cp` runs in a
// container: "tar cf - PATH..." writes PATHs to stdout, and
// "tar [--no-same-permissions] [--no-same-owner] -xmf - [-C DIR]" unpacks
// stdin into DIR. The test image holds only its server, so the node tests
// build this static and mount it into a pod as /bin/tar to test kubectl cp.
package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tar:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	var mode, dir string
	var paths []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "cf" || a == "-cf":
			mode = "c"
		case a == "-xmf" || a == "xmf" || a == "-xf" || a == "xf":
			mode = "x"
		case a == "-C" && i+1 < len(args):
			dir = args[i+1]
			i++
		case a == "-" || strings.HasPrefix(a, "--no-same-"):
		default:
			paths = append(paths, a)
		}
	}
	switch mode {
	case "c":
		return create(os.Stdout, paths)
	case "x":
		if dir == "" {
			dir = "."
		}
		return extract(os.Stdin, dir)
	}
	return fmt.Errorf("unsupported arguments %q", args)
}

func create(w io.Writer, paths []string) error {
	tw := tar.NewWriter(w)
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if !info.Mode().IsRegular() && !info.IsDir() {
				return nil
			}
			hdr, err := tar.FileInfoHeader(info, "")
			if err != nil {
				return err
			}
			hdr.Name = strings.TrimLeft(filepath.ToSlash(p), "/")
			if info.IsDir() {
				hdr.Name += "/"
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if info.Mode().IsRegular() {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				if _, err := io.Copy(tw, f); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

func extract(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.Clean("/"+hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, fs.FileMode(hdr.Mode).Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
}
