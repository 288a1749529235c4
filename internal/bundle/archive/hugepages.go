package archive

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// hugeWindow is the window from which preferHugePages pays: a release's
// archive has a 256 MiB one, the archive a plain build embeds 8 MiB.
const hugeWindow = 64 << 20

// preferHugePages has the heap's next allocation of up to n bytes come
// from memory that the kernel may back with 2 MiB pages. The decoder keeps
// the frame's window in one buffer that it fills page by page; here (a VM,
// transparent huge pages in madvise mode as Debian ships them) the 65,536
// faults of 4 KiB pages that fill a 256 MiB window cost ~0.5 s, a third of
// a release's first unpacking, against ~20 ms as 2 MiB pages. The decoder
// allocates the buffer itself, so it cannot be advised: this allocates as
// much, advises it and frees it, and the runtime, which keeps the range
// mapped with the advice, gives it to the next large allocation, the
// window. Where it gives another range, or the kernel has no huge pages,
// only the time is lost.
func preferHugePages(n int) {
	b := make([]byte, n)
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // advice: refused, it changes nothing
	runtime.KeepAlive(b)
	runtime.GC()
}
