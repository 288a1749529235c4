package localstorage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// Directory modes.
const (
	// BaseMode is the base directory's mode when skiff creates it: only
	// root lists the volumes; pods reach their own directory through a
	// bind mount, which does not need the base to be open to them.
	BaseMode fs.FileMode = 0o711
	// VolumeMode is each volume's directory: writable by every user, as
	// local-path-provisioner makes them, because a pod may run as any
	// user and the kubelet applies no fsGroup to hostPath volumes.
	VolumeMode fs.FileMode = 0o777
)

// ensureBase creates the base directory (and its parents) if missing and
// checks that it is a directory. An existing one keeps its mode: the user
// may have set it.
func ensureBase(base string) error {
	if err := os.MkdirAll(base, BaseMode); err != nil {
		return fmt.Errorf("creating the local storage directory %s: %w; choose another with --default-local-storage-path", base, err)
	}
	st, err := os.Stat(base)
	if err != nil {
		return fmt.Errorf("checking the local storage directory %s: %w", base, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("the local storage path %s is not a directory; remove it or choose another with --default-local-storage-path", base)
	}
	return nil
}

// makeVolumeDir creates a volume's directory with VolumeMode, whatever the
// process's umask. A directory that exists already (a restart between
// making it and creating the PersistentVolume) is kept with its content
// and given the mode again; a symlink or a file in its place is an error,
// never followed. The base directory is made again if someone removed it.
func makeVolumeDir(base, pvName, path string) error {
	if err := checkVolumePath(base, pvName, path); err != nil {
		return fmt.Errorf("not creating volume directory: %w", err)
	}
	if err := ensureBase(base); err != nil {
		return err
	}
	err := os.Mkdir(path, VolumeMode)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating volume directory %s: %w", path, err)
	}
	// Opened without following a symlink, and changed through the open
	// descriptor: nothing swapped in at the path in between gets the mode.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening volume directory %s: %w (a file or symlink in its place is not used; remove it)", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, uint32(VolumeMode.Perm())); err != nil {
		return fmt.Errorf("setting the mode of volume directory %s: %w", path, err)
	}
	return nil
}

// removeVolumeDir removes a volume's directory and everything in it,
// after checkVolumePath agreed that path is one of base's volume
// directories named for pvName. A directory that is gone already is not
// an error. os.RemoveAll does not follow symlinks, inside or at path.
func removeVolumeDir(base, pvName, path string) error {
	if err := checkVolumePath(base, pvName, path); err != nil {
		return fmt.Errorf("not removing volume directory: %w", err)
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("removing volume directory %s: %w", path, err)
	}
	return nil
}

// removeEmptyVolumeDir removes a volume's directory if it is empty: what
// is left when the claim went away before its PersistentVolume could be
// created. A directory with data in it, or none at all, is left as is.
func removeEmptyVolumeDir(base, pvName, path string) (bool, error) {
	if err := checkVolumePath(base, pvName, path); err != nil {
		return false, fmt.Errorf("not removing volume directory: %w", err)
	}
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking volume directory %s: %w", path, err)
	}
	if !st.IsDir() {
		return false, nil
	}
	err = unix.Rmdir(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST), errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, fmt.Errorf("removing empty volume directory %s: %w", path, err)
}
