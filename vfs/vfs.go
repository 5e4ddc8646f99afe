package vfs

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// File is an open file or directory.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	// Seek sets the offset of the next Read or Write.
	io.Seeker
	// Sync makes the file's contents (for a directory: its entries) durable.
	Sync() error
	// Stat describes the file; Size is the current length.
	Stat() (os.FileInfo, error)
	// Truncate changes the file's length. It is durable after Sync.
	Truncate(size int64) error
}

// FS is a filesystem. Names are paths in the FS's own syntax; use PathJoin,
// PathBase and PathDir to build and split them.
type FS interface {
	// Create creates name, or truncates it if it exists, open for reading
	// and writing. The new directory entry is durable after its directory
	// is synced.
	Create(name string) (File, error)
	// Open opens an existing file for reading.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing without
	// truncating it; writes start at offset 0.
	OpenReadWrite(name string) (File, error)
	// OpenDir opens a directory so that it can be synced.
	OpenDir(name string) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// Rename atomically renames oldname to newname, replacing newname.
	Rename(oldname, newname string) error
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the base names of dir's entries, sorted.
	List(dir string) ([]string, error)
	// Stat describes name.
	Stat(name string) (os.FileInfo, error)
	// Link makes newname a second name of the file oldname (a hard link):
	// both names then reach the same contents, and removing one leaves the
	// other. It fails when newname exists or oldname is a directory, and
	// may fail where the filesystem has no hard links or the names are on
	// different devices; callers that only need a copy fall back to one.
	// The new directory entry is durable after its directory is synced.
	Link(oldname, newname string) error
	// Lock takes an exclusive lock named by the file name, creating the file
	// if needed. It fails at once with an error matching ErrLocked when the
	// lock is held, exclusively or shared, by this process or another.
	// Close releases it.
	Lock(name string) (io.Closer, error)
	// LockShared takes a shared lock named by the file name, for a reader
	// that must keep a writer (Lock) out while it runs. Any number of
	// shared locks coexist; LockShared fails at once with an error matching
	// ErrLocked while the exclusive lock is held, by this process or
	// another. The file must exist: it is opened read-only and never
	// created, so a shared locker changes nothing on disk (a missing file
	// is an error matching fs.ErrNotExist). Close releases it.
	LockShared(name string) (io.Closer, error)

	PathJoin(elem ...string) string
	PathBase(path string) string
	PathDir(path string) string
}

// ErrLocked is returned by FS.Lock and FS.LockShared when the lock is held
// in a mode that excludes theirs.
var ErrLocked = errors.New("vfs: lock already held")

// SyncDir syncs the directory dir, making the entries created, renamed or
// removed in it durable.
func SyncDir(fs FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("vfs: sync dir %s: %w", dir, err)
	}
	return d.Close()
}
