package dkv

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// killableFS wraps an FS so that a process's death can be simulated: after
// kill, every operation of the wrapper and of the files it opened fails,
// so the "dead" DB cannot touch the filesystem any more, while what it had
// already written stays (it is in the OS's cache: the wrapped FS). Closing
// the dead DB then only releases its lock, as the kernel would.
type killableFS struct {
	vfs.FS
	dead atomic.Bool
}

var errKilled = errors.New("process killed")

func (k *killableFS) kill() { k.dead.Store(true) }

func (k *killableFS) check() error {
	if k.dead.Load() {
		return errKilled
	}
	return nil
}

func (k *killableFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &killableFile{File: f, fs: k}, nil
}

func (k *killableFS) Create(name string) (vfs.File, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	return k.wrap(k.FS.Create(name))
}

func (k *killableFS) Open(name string) (vfs.File, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	return k.wrap(k.FS.Open(name))
}

func (k *killableFS) OpenReadWrite(name string) (vfs.File, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	return k.wrap(k.FS.OpenReadWrite(name))
}

func (k *killableFS) OpenDir(name string) (vfs.File, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	return k.wrap(k.FS.OpenDir(name))
}

func (k *killableFS) Remove(name string) error {
	if err := k.check(); err != nil {
		return err
	}
	return k.FS.Remove(name)
}

func (k *killableFS) Rename(a, b string) error {
	if err := k.check(); err != nil {
		return err
	}
	return k.FS.Rename(a, b)
}

func (k *killableFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := k.check(); err != nil {
		return err
	}
	return k.FS.MkdirAll(dir, perm)
}

func (k *killableFS) Lock(name string) (io.Closer, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	return k.FS.Lock(name) // the lock's Close works after death: the kernel drops it
}

type killableFile struct {
	vfs.File
	fs *killableFS
}

func (f *killableFile) Write(p []byte) (int, error) {
	if err := f.fs.check(); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *killableFile) Sync() error {
	if err := f.fs.check(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *killableFile) Truncate(n int64) error {
	if err := f.fs.check(); err != nil {
		return err
	}
	return f.File.Truncate(n)
}

// killDB simulates kill -9 of the process running db, which was opened on
// k: nothing more reaches the filesystem, and the lock is released.
func killDB(k *killableFS, db *DB) {
	k.kill()
	_ = db.Close()
}

// SoakSeedBase offsets the seeds of the randomized suites. CI runs them
// with the default, 0; scripts/soak.sh runs them round after round with
// DKV_SEED_BASE set to a new value each time, so that no round repeats
// another's cases.
func SoakSeedBase() uint64 {
	v, _ := strconv.ParseUint(os.Getenv("DKV_SEED_BASE"), 10, 64)
	return v
}

// SoakCount logs that a suite tried n cases of a kind (crash points,
// faults injected, corruptions...), in the form scripts/soak.sh adds up.
func SoakCount(t testing.TB, kind string, n int64) {
	t.Helper()
	t.Logf("soak-count: %s=%d", kind, n)
}

// DeleteModelRange deletes the keys in [start, end) from a test model: what
// a range deletion does to the map the model tests keep.
func DeleteModelRange[V any](model map[string]V, start, end string) {
	for k := range model {
		if k >= start && k < end {
			delete(model, k)
		}
	}
}

// DBContents returns every key and value db holds, read by an iterator.
func DBContents(t *testing.T, db *DB) map[string]string {
	t.Helper()
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	out := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	require.NoError(t, it.Error())
	require.NoError(t, it.Close())
	return out
}
