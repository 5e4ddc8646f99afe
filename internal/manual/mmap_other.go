//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package manual

const supported = false

func mmap(int) []byte { return nil }

func munmap([]byte) {}
