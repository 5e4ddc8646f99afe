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

// heldLocks records the lock files this process holds, by absolute path. flock
// already refuses a second lock through another open file description, but
// not every platform's lock does; this keeps the same-process rule exact.
var heldLocks sync.Map

func (osFS) Lock(name string) (io.Closer, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, err
	}
	if _, loaded := heldLocks.LoadOrStore(abs, true); loaded {
		return nil, fmt.Errorf("%w: %s, by this process", ErrLocked, name)
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		heldLocks.Delete(abs)
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		heldLocks.Delete(abs)
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%w: %s, by another process", ErrLocked, name)
		}
		return nil, fmt.Errorf("vfs: lock %s: %w", name, err)
	}
	return &osLock{f: f, abs: abs}, nil
}

type osLock struct {
	once sync.Once
	f    *os.File
	abs  string
}

func (l *osLock) Close() error {
	var err error
	l.once.Do(func() {
		err = l.f.Close() // closing the descriptor releases the flock
		heldLocks.Delete(l.abs)
	})
	return err
}

type osFile struct{ *os.File }

func (f osFile) Stat() (os.FileInfo, error) { return f.File.Stat() }
