//go:build unix

package vfs

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes a non-blocking flock on f: shared (LOCK_SH) or exclusive
// (LOCK_EX).
func lockFile(f *os.File, shared bool) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	how := syscall.LOCK_EX
	if shared {
		how = syscall.LOCK_SH
	}
	var lockErr error
	if err := raw.Control(func(fd uintptr) {
		for {
			lockErr = syscall.Flock(int(fd), how|syscall.LOCK_NB)
			if !errors.Is(lockErr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if errors.Is(lockErr, syscall.EWOULDBLOCK) {
		return ErrLocked
	}
	return lockErr
}
