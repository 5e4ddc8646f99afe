package manual

import "syscall"

// mapSlab maps a slab aligned to its size and asks for transparent huge
// pages over it (Linux backs it with one 2 MiB page when it can; without
// THP the advice is ignored), or returns nil.
func mapSlab() []byte {
	b := mmap(2 * slabSize)
	if b == nil {
		return nil
	}
	// Keep the aligned slabSize bytes inside, unmap the rest. (With the
	// raw system call: syscall.Munmap only takes a whole mapping it made,
	// and slabs are never unmapped.)
	off := int((slabSize - uintptrOf(b)%slabSize) % slabSize)
	if off > 0 {
		unmapRaw(b[:off:off])
	}
	if tail := b[off+slabSize:]; len(tail) > 0 {
		unmapRaw(tail)
	}
	slab := b[off : off+slabSize : off+slabSize]
	_ = syscall.Madvise(slab, syscall.MADV_HUGEPAGE)
	return slab
}

// unmapRaw unmaps part of a mapping. It cannot fail on a range of a
// mapping this package made: an error is a bug.
func unmapRaw(b []byte) {
	if _, _, errno := syscall.Syscall(syscall.SYS_MUNMAP, uintptrOf(b), uintptr(len(b)), 0); errno != 0 {
		panic("manual: munmap: " + errno.Error())
	}
}
