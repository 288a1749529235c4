package launcher

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/skiff-k8s/skiff/internal/bundle"
)

// Main unpacks the archive this launcher carries, if this version has not
// been unpacked yet, and execs the skiff in it. It returns only on error.
func Main() int {
	if err := run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "skiff:", err)
		return 1
	}
	return 0
}

func run(args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the skiff binary: %w", err)
	}
	f, p, err := Open(exe)
	if err != nil {
		return err
	}
	defer f.Close()
	load := func() ([]byte, error) { return p.Map(f) }

	bin, err := unpack(dataDir(args, os.Getenv), p.ID, load)
	if err != nil {
		return err
	}
	f.Close()
	skiff := filepath.Join(bin, "skiff")
	// argv[0] unchanged: skiff answers to the name it was called by.
	if err := syscall.Exec(skiff, args, os.Environ()); err != nil {
		return fmt.Errorf("starting %s: %w", skiff, err)
	}
	return nil
}

// unpack unpacks into dir's data folder. A user who may not write there
// (kubectl run as a user) uses the version root unpacked there, or else
// unpacks a copy of their own under ~/.skiff.
func unpack(dir, id string, load func() ([]byte, error)) (string, error) {
	bin, err := bundle.Unpack(dir, id, load)
	if err == nil || os.Geteuid() == 0 {
		return bin, err
	}
	if bin := filepath.Join(dir, "data", id, "bin"); executable(filepath.Join(bin, "skiff")) {
		return bin, nil
	}
	home, herr := os.UserHomeDir()
	if herr != nil {
		return "", err
	}
	return bundle.Unpack(filepath.Join(home, ".skiff"), id, load)
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}
