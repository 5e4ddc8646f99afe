//go:build linux || darwin || freebsd || netbsd || openbsd

package manual

import (
	"syscall"
	"unsafe"
)

const supported = true

// mmap maps n bytes (rounded up to pages) of anonymous memory, or returns
// nil if the system refuses.
func mmap(n int) []byte {
	size := (n + pageSize - 1) &^ (pageSize - 1)
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	return b
}

func munmap(b []byte) {
	if err := syscall.Munmap(b); err != nil {
		panic("manual: munmap: " + err.Error())
	}
}

var pageSize = syscall.Getpagesize()

// uintptrOf returns the address of b's first byte.
func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
