package memory

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pageOutExecutable asks the kernel to drop pid's mappings of its own
// executable file. Start-up touches most of a large binary once (package
// initialisation, type data) and the kernel maps it in fault-around
// windows; much of it is not used again. What the process still needs is
// faulted back in from the page cache, and the rest stops counting against
// it.
//
// The writable mappings (the binary's data) are included: their pages that
// were only read are clean file pages like the rest; those written are
// anonymous and stay, unless the host has swap.
func pageOutExecutable(pid int) error {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return fmt.Errorf("finding the executable: %w", err)
	}
	regions, err := fileRegions(pid, exe)
	if err != nil {
		return err
	}
	if len(regions) == 0 {
		return nil
	}
	// process_madvise works on this process too, and names the regions
	// as an address list rather than as Go memory.
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("opening pid %d: %w", pid, err)
	}
	defer unix.Close(fd)
	// C's struct iovec: the addresses are another process's, never
	// dereferenced here, so they stay plain numbers.
	iov := make([]struct{ base, len uintptr }, len(regions))
	for i, r := range regions {
		iov[i].base, iov[i].len = r.start, r.end-r.start
	}
	_, _, errno := unix.Syscall6(unix.SYS_PROCESS_MADVISE, uintptr(fd),
		uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), unix.MADV_PAGEOUT, 0, 0)
	if errno != 0 {
		return fmt.Errorf("process_madvise: %w", errno)
	}
	return nil
}

type region struct{ start, end uintptr }

// fileRegions lists pid's mappings of the file at path.
func fileRegions(pid int, path string) ([]region, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, fmt.Errorf("reading mappings: %w", err)
	}
	defer f.Close()
	var regions []region
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != path {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		regions = append(regions, region{uintptr(lo), uintptr(hi)})
	}
	return regions, sc.Err()
}
