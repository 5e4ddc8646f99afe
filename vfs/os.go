package vfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Default is the operating system's filesystem.
var Default FS = osFS{}

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenDir(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error              { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error  { return os.Rename(oldname, newname) }
func (osFS) Stat(name string) (os.FileInfo, error) { return os.Stat(name) }
func (osFS) PathJoin(elem ...string) string        { return filepath.Join(elem...) }
func (osFS) PathBase(path string) string           { return filepath.Base(path) }
func (osFS) PathDir(path string) string            { return filepath.Dir(path) }

func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

func (osFS) List(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

func (osFS) Link(oldname, newname string) error { return os.Link(oldname, newname) }

// heldLocks records the lock files this process holds, by absolute path:
// -1 for the exclusive lock, n > 0 for n shared ones. flock already refuses
// a conflicting lock through another open file description, but not every
// platform's lock does; this keeps the same-process rule exact.
var heldLocks = struct {
	sync.Mutex
	m map[string]int
}{m: map[string]int{}}

// holdInProcess records a lock of abs unless this process holds one that
// excludes it.
func holdInProcess(abs string, shared bool) bool {
	heldLocks.Lock()
	defer heldLocks.Unlock()
	n := heldLocks.m[abs]
	switch {
	case shared && n >= 0:
		heldLocks.m[abs] = n + 1
	case !shared && n == 0:
		heldLocks.m[abs] = -1
	default:
		return false
	}
	return true
}

// releaseInProcess forgets a lock holdInProcess recorded.
func releaseInProcess(abs string, shared bool) {
	heldLocks.Lock()
	defer heldLocks.Unlock()
	if n := heldLocks.m[abs]; shared && n > 1 {
		heldLocks.m[abs] = n - 1
		return
	}
	delete(heldLocks.m, abs)
}

func (osFS) Lock(name string) (io.Closer, error) { return lockOS(name, false) }

func (osFS) LockShared(name string) (io.Closer, error) { return lockOS(name, true) }

// lockOS takes the flock of name, shared or exclusive. The exclusive locker
// creates the file; the shared one only opens it, read-only.
func lockOS(name string, shared bool) (io.Closer, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, err
	}
	if !holdInProcess(abs, shared) {
		return nil, fmt.Errorf("%w: %s, by this process", ErrLocked, name)
	}
	var f *os.File
	if shared {
		f, err = os.Open(name)
	} else {
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	}
	if err != nil {
		releaseInProcess(abs, shared)
		return nil, err
	}
	if err := lockFile(f, shared); err != nil {
		f.Close()
		releaseInProcess(abs, shared)
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%w: %s, by another process", ErrLocked, name)
		}
		return nil, fmt.Errorf("vfs: lock %s: %w", name, err)
	}
	return &osLock{f: f, abs: abs, shared: shared}, nil
}

type osLock struct {
	once   sync.Once
	f      *os.File
	abs    string
	shared bool
}

func (l *osLock) Close() error {
	var err error
	l.once.Do(func() {
		err = l.f.Close() // closing the descriptor releases the flock
		releaseInProcess(l.abs, l.shared)
	})
	return err
}

type osFile struct{ *os.File }

func (f osFile) Stat() (os.FileInfo, error) { return f.File.Stat() }
