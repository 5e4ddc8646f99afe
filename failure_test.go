package dkv_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// syncFailFS wraps an FS; while fail is set, Sync of any .log file fails.
type syncFailFS struct {
	vfs.FS
	fail  atomic.Bool
	syncs atomic.Int64 // Sync calls on .log files, failed ones included
}

var errInjected = errors.New("injected EIO")

func (fs *syncFailFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	return fs.wrap(name, f), err
}

func (fs *syncFailFS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name)
	return fs.wrap(name, f), err
}

func (fs *syncFailFS) wrap(name string, f vfs.File) vfs.File {
	if f == nil || !strings.HasSuffix(name, ".log") {
		return f
	}
	return &syncFailFile{File: f, fs: fs}
}

type syncFailFile struct {
	vfs.File
	fs *syncFailFS
}

func (f *syncFailFile) Sync() error {
	f.fs.syncs.Add(1)
	if f.fs.fail.Load() {
		return errInjected
	}
	return f.File.Sync()
}

// A failed fsync of the log stops writes for good (fail-stop): the write
// that needed it and every later one fail with ErrStopped, even after the
// fault is gone, and the fsync is never retried. Reads keep working. After
// reopening, every acknowledged write is there.
func TestFailedSyncStopsWrites(t *testing.T) {
	mem := vfs.NewMem()
	fs := &syncFailFS{FS: mem}
	var stopped atomic.Int32
	opts := &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler),
		EventListener: &dkv.EventListener{WritesStopped: func(error) { stopped.Add(1) }}}
	db, err := dkv.Open("/db", opts)
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, db.Put([]byte(fmt.Sprint("k", i)), []byte("v")))
	}

	fs.fail.Store(true)
	err = db.Put([]byte("failed"), []byte("v"))
	require.ErrorIs(t, err, dkv.ErrStopped)
	require.ErrorIs(t, err, errInjected, "the error says what failed")
	syncsAtFailure := fs.syncs.Load()

	fs.fail.Store(false)
	for _, w := range []func() error{
		func() error { return db.Put([]byte("later"), []byte("v")) },
		func() error { return db.Delete([]byte("k1")) },
		func() error { return db.Write(db.NewBatch(), nil) }, // empty: no-op
	} {
		if err := w(); err != nil {
			require.ErrorIs(t, err, dkv.ErrStopped)
		}
	}
	require.ErrorIs(t, db.Put([]byte("later"), []byte("v")), dkv.ErrStopped)
	require.Equal(t, syncsAtFailure, fs.syncs.Load(), "no fsync after the failed one")
	require.Equal(t, int32(1), stopped.Load())

	v, err := db.Get([]byte("k3"))
	require.NoError(t, err, "reads keep working")
	require.Equal(t, []byte("v"), v)
	_, err = db.Get([]byte("failed"))
	require.ErrorIs(t, err, dkv.ErrNotFound, "a write that failed is never visible")
	require.ErrorIs(t, db.Close(), dkv.ErrStopped)

	db, err = dkv.Open("/db", &dkv.Options{FS: mem, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	for i := range 10 {
		_, err := db.Get([]byte(fmt.Sprint("k", i)))
		require.NoError(t, err)
	}
	_, err = db.Get([]byte("later"))
	require.ErrorIs(t, err, dkv.ErrNotFound)
	require.NoError(t, db.Close())
}

// Damage inside the synced part of a log is corruption: Open fails with
// ErrCorruption naming the file and offset, and changes no file.
func TestOpenCorruptLog(t *testing.T) {
	db, fs := openMem(t, nil)
	for i := range 50 {
		require.NoError(t, db.Put([]byte(fmt.Sprint("k", i)), []byte("value")))
	}
	require.NoError(t, db.Close())
	before := snapshotDir(t, fs, "/db")
	var logName string
	for name := range before {
		if strings.HasSuffix(name, ".log") {
			logName = name
		}
	}
	data := []byte(before[logName])
	data[200] ^= 0x01
	writeFile(t, fs, "/db/"+logName, data)
	before[logName] = string(data)

	_, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.ErrorIs(t, err, dkv.ErrCorruption)
	var ce *dkv.CorruptionError
	require.True(t, errors.As(err, &ce))
	require.Equal(t, "/db/"+logName, ce.File)
	require.Less(t, ce.Offset, int64(200+1))
	require.Greater(t, ce.Offset, int64(100))
	require.Equal(t, before, snapshotDir(t, fs, "/db"), "a failed Open changes nothing")
}

// A torn tail in the newest log — an append cut by a crash — is truncated
// at the last whole record, reported through the event listener, and the
// database opens with every whole record.
func TestOpenTornTail(t *testing.T) {
	db, fs := openMem(t, nil)
	for i := range 20 {
		require.NoError(t, db.Put([]byte(fmt.Sprint("k", i)), []byte("value")))
	}
	require.NoError(t, db.Close())
	files := snapshotDir(t, fs, "/db")
	var logName string
	for name := range files {
		if strings.HasSuffix(name, ".log") {
			logName = name
		}
	}
	whole := len(files[logName])
	torn := append([]byte(files[logName]), []byte(files[logName][30:70])...) // a cut copy of a record
	writeFile(t, fs, "/db/"+logName, torn)

	var info dkv.WALRecoveryInfo
	db, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler),
		EventListener: &dkv.EventListener{WALRecovered: func(i dkv.WALRecoveryInfo) { info = i }}})
	require.NoError(t, err)
	require.Equal(t, 20, info.Records)
	require.Equal(t, int64(whole), info.Size)
	require.Equal(t, int64(40), info.TornBytes)
	require.NotEmpty(t, info.TornReason)
	for i := range 20 {
		_, err := db.Get([]byte(fmt.Sprint("k", i)))
		require.NoError(t, err)
	}
	require.NoError(t, db.Put([]byte("after"), []byte("v")))
	require.NoError(t, db.Close())

	db, err = dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	_, err = db.Get([]byte("after"))
	require.NoError(t, err, "writes after a truncated tail are recovered")
	require.NoError(t, db.Close())
}

// A log missing from the middle of the history is detected by the gap in
// sequence numbers and reported as corruption.
func TestOpenMissingLog(t *testing.T) {
	// Tables cannot be created, so flushes fail and the logs stay.
	fs := vfs.NewMem()
	db, err := dkv.Open("/db", &dkv.Options{FS: &noTablesFS{FS: fs}, MemTableSize: 16 << 10,
		MemTableStopWritesThreshold: 100, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	for i := range 1000 {
		require.NoError(t, db.Put([]byte(fmt.Sprint("k", i)), []byte("value")))
	}
	require.NoError(t, db.Close())
	names, err := fs.List("/db")
	require.NoError(t, err)
	var logs []string
	for _, n := range names {
		if strings.HasSuffix(n, ".log") {
			logs = append(logs, n)
		}
	}
	require.GreaterOrEqual(t, len(logs), 3)
	require.NoError(t, fs.Remove("/db/"+logs[1]))
	_, err = dkv.Open("/db", &dkv.Options{FS: fs, MemTableSize: 16 << 10, Logger: slog.New(slog.DiscardHandler)})
	require.ErrorIs(t, err, dkv.ErrCorruption)
	require.Contains(t, err.Error(), "is a log missing")
}

func snapshotDir(t *testing.T, fs vfs.FS, dir string) map[string]string {
	t.Helper()
	names, err := fs.List(dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, n := range names {
		f, err := fs.Open(fs.PathJoin(dir, n))
		require.NoError(t, err)
		b, err := io.ReadAll(f)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		out[n] = string(b)
	}
	return out
}

func writeFile(t *testing.T, fs vfs.FS, name string, data []byte) {
	t.Helper()
	f, err := fs.Create(name)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// noTablesFS refuses to create tables.
type noTablesFS struct{ vfs.FS }

func (fs *noTablesFS) Create(name string) (vfs.File, error) {
	if strings.HasSuffix(name, ".sst") {
		return nil, errInjected
	}
	return fs.FS.Create(name)
}
