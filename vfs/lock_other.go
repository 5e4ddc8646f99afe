//go:build !unix

package vfs

import (
	"errors"
	"os"
)

// lockFile is not implemented off Unix: dkv refuses to open rather than run
// without the guarantee that one process owns the directory.
func lockFile(f *os.File, shared bool) error {
	return errors.New("vfs: file locking is only implemented on Unix")
}
