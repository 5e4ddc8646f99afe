package dkv_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

func listFiles(t *testing.T, fs vfs.FS, suffix string) []string {
	t.Helper()
	names, err := fs.List("/db")
	require.NoError(t, err)
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, suffix) || strings.HasPrefix(n, suffix) {
			out = append(out, n)
		}
	}
	return out
}

// Flush writes the memtable to an L0 table, reads then come from the table,
// the log that covered the memtable is deleted, and the data survives
// reopening from the table alone.
func TestFlushToTable(t *testing.T) {
	db, fs := openMem(t, nil)
	for i := range 500 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%04d", i)), []byte(fmt.Sprint("v", i))))
	}
	logsBefore := listFiles(t, fs, ".log")
	require.NoError(t, db.Flush())
	m := db.Metrics()
	require.Equal(t, 1, m.Levels[0].Files)
	require.Positive(t, m.Levels[0].Size)
	require.Equal(t, 0, m.MemTable.Entries)
	require.Equal(t, int64(1), m.Flush.Count)
	for _, l := range logsBefore {
		require.NotContains(t, listFiles(t, fs, ".log"), l, "the flushed memtable's log is deleted")
	}
	for i := range 500 {
		v, err := db.Get([]byte(fmt.Sprintf("k%04d", i)))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint("v", i), string(v))
	}
	require.Positive(t, db.Metrics().TableCache.Hits+db.Metrics().TableCache.Misses)
	require.NoError(t, db.Flush(), "nothing to flush is not an error")
	require.NoError(t, db.Close())

	db, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer db.Close()
	require.Equal(t, 1, db.Metrics().Levels[0].Files)
	v, err := db.Get([]byte("k0042"))
	require.NoError(t, err)
	require.Equal(t, "v42", string(v))
	require.Len(t, listFiles(t, fs, "MANIFEST-"), 1, "one live MANIFEST")
}

// Flush returns only after the listener heard FlushEnd for each flush it
// waited for: a tool that prints events and results in order (dkv compact)
// relies on it. The slow listener widens the window a wrong order needs.
func TestFlushReturnsAfterFlushEnd(t *testing.T) {
	var ended atomic.Int64
	db, _ := openMem(t, &dkv.Options{EventListener: &dkv.EventListener{
		FlushEnd: func(dkv.FlushInfo) {
			time.Sleep(20 * time.Millisecond)
			ended.Add(1)
		},
	}})
	defer db.Close()
	for round := range 5 {
		require.NoError(t, db.Put([]byte(fmt.Sprint("k", round)), []byte("v")))
		require.NoError(t, db.Flush())
		require.Equal(t, int64(round+1), ended.Load(), "Flush returned before its FlushEnd event")
	}
}

// A tombstone in a newer table, or in the memtable, hides the value in an
// older table; a newer value in a newer table wins.
func TestShadowingAcrossTables(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	require.NoError(t, db.Put([]byte("a"), []byte("old")))
	require.NoError(t, db.Put([]byte("b"), []byte("old")))
	require.NoError(t, db.Put([]byte("c"), []byte("old")))
	require.NoError(t, db.Flush())
	require.NoError(t, db.Delete([]byte("a")))
	require.NoError(t, db.Put([]byte("b"), []byte("new")))
	require.NoError(t, db.Flush())
	require.NoError(t, db.Delete([]byte("c")))
	require.Equal(t, 2, db.Metrics().Levels[0].Files)

	_, err := db.Get([]byte("a"))
	require.ErrorIs(t, err, dkv.ErrNotFound, "a tombstone in a newer table hides the older value")
	v, err := db.Get([]byte("b"))
	require.NoError(t, err)
	require.Equal(t, "new", string(v))
	_, err = db.Get([]byte("c"))
	require.ErrorIs(t, err, dkv.ErrNotFound, "a tombstone in the memtable hides the table's value")
	_, err = db.Get([]byte("zzz"))
	require.ErrorIs(t, err, dkv.ErrNotFound)
}

// Random operations against a map model, with a memtable of a few KiB so
// that flushes happen constantly, under several option sets, with reopens.
func TestRandomOpsWithFlushes(t *testing.T) {
	optionSets := map[string]dkv.Options{
		"snappy":       {},
		"none/nobloom": {BloomBitsPerKey: -1, Levels: allLevels(dkv.LevelOptions{Compression: dkv.NoCompression, BlockSize: 256})},
		"zstd/tiny":    {Levels: allLevels(dkv.LevelOptions{Compression: dkv.ZstdCompression, BlockSize: 512})},
		"nocache":      {CacheSize: -1, MaxOpenFiles: 16},
	}
	for name, o := range optionSets {
		t.Run(name, func(t *testing.T) {
			fs := vfs.NewMem()
			o.FS, o.MemTableSize, o.Logger, o.NoSync = fs, 4<<10, slog.New(slog.DiscardHandler), true
			db, err := dkv.Open("/db", &o)
			require.NoError(t, err)
			model := map[string]string{}
			rng := rand.New(rand.NewPCG(9, 9))
			for i := range 4000 {
				k := fmt.Sprintf("key%03d", rng.IntN(300))
				switch r := rng.IntN(10); {
				case r < 6:
					v := fmt.Sprintf("%s-%d-%s", k, i, strings.Repeat("x", rng.IntN(100)))
					require.NoError(t, db.Put([]byte(k), []byte(v)))
					model[k] = v
				case r < 8:
					require.NoError(t, db.Delete([]byte(k)))
					delete(model, k)
				default:
					v, err := db.Get([]byte(k))
					if want, ok := model[k]; ok {
						require.NoError(t, err, "op %d key %s", i, k)
						require.Equal(t, want, string(v), "op %d key %s", i, k)
					} else {
						require.ErrorIs(t, err, dkv.ErrNotFound, "op %d key %s", i, k)
					}
				}
				if i%1000 == 999 {
					require.NoError(t, db.Close())
					db, err = dkv.Open("/db", &o)
					require.NoError(t, err)
				}
			}
			require.NoError(t, db.Flush())
			m := db.Metrics()
			tables := 0 // a compaction may already have moved L0's tables down
			for _, l := range m.Levels {
				tables += int(l.Files)
			}
			require.Positive(t, tables)
			for k := range 300 {
				key := fmt.Sprintf("key%03d", k)
				v, err := db.Get([]byte(key))
				if want, ok := model[key]; ok {
					require.NoError(t, err)
					require.Equal(t, want, string(v))
				} else {
					require.ErrorIs(t, err, dkv.ErrNotFound)
				}
			}
			require.NoError(t, db.Close())
		})
	}
}

func allLevels(l dkv.LevelOptions) (out [dkv.NumLevels]dkv.LevelOptions) {
	for i := range out {
		out[i] = l
	}
	return out
}

// slowTableFS makes fsyncs of tables slow, so that flushes fall behind.
type slowTableFS struct {
	vfs.FS
	delay time.Duration
}

func (fs *slowTableFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil || !strings.HasSuffix(name, ".sst") {
		return f, err
	}
	return &slowFile{File: f, delay: fs.delay}, nil
}

type slowFile struct {
	vfs.File
	delay time.Duration
}

func (f *slowFile) Sync() error {
	time.Sleep(f.delay)
	return f.File.Sync()
}

// When flushes fall behind, writers wait (a write stall, counted) instead
// of full memtables piling up without bound.
func TestWriteStall(t *testing.T) {
	var maxImm atomic.Int64
	fs := &slowTableFS{FS: vfs.NewMem(), delay: 20 * time.Millisecond}
	db, err := dkv.Open("/db", &dkv.Options{FS: fs, MemTableSize: 4 << 10, MemTableStopWritesThreshold: 1,
		NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer db.Close()
	val := bytes.Repeat([]byte("v"), 200)
	for i := range 200 {
		require.NoError(t, db.Put([]byte(fmt.Sprint("k", i)), val))
		if n := int64(db.Metrics().MemTable.Immutable); n > maxImm.Load() {
			maxImm.Store(n)
		}
	}
	m := db.Metrics()
	require.Positive(t, m.WriteStall.Count, "%s", m)
	require.Positive(t, m.WriteStall.Duration)
	require.LessOrEqual(t, maxImm.Load(), int64(1), "full memtables never exceed the threshold")
}

// failTablesFS fails table creation while fail is set.
type failTablesFS struct {
	vfs.FS
	fail atomic.Bool
}

func (fs *failTablesFS) Create(name string) (vfs.File, error) {
	if fs.fail.Load() && strings.HasSuffix(name, ".sst") {
		return nil, errInjected
	}
	return fs.FS.Create(name)
}

// A flush that fails is retried in the background and reported; Flush
// returns the error; once the fault is gone the flush completes and nothing
// is lost.
func TestFlushErrorRetried(t *testing.T) {
	fs := &failTablesFS{FS: vfs.NewMem()}
	var bgErrors atomic.Int64
	db, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler),
		EventListener: &dkv.EventListener{BackgroundError: func(error) { bgErrors.Add(1) }}})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	fs.fail.Store(true)
	err = db.Flush()
	require.ErrorIs(t, err, errInjected)
	require.Positive(t, bgErrors.Load())
	require.Positive(t, db.Metrics().Flush.Errors)
	v, err := db.Get([]byte("k"))
	require.NoError(t, err, "the memtable stays readable while its flush fails")
	require.Equal(t, "v", string(v))
	require.NoError(t, db.Put([]byte("k2"), []byte("v2")), "writes go on")

	fs.fail.Store(false)
	require.NoError(t, db.Flush())
	require.Equal(t, 0, db.Metrics().MemTable.Immutable)
	for _, k := range []string{"k", "k2"} {
		_, err := db.Get([]byte(k))
		require.NoError(t, err)
	}
}

// manifestSyncFailFS fails fsyncs of MANIFEST files while fail is set.
type manifestSyncFailFS struct {
	vfs.FS
	fail atomic.Bool
}

func (fs *manifestSyncFailFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil || !strings.Contains(name, "MANIFEST-") {
		return f, err
	}
	return &failSyncFile{File: f, fail: &fs.fail}, nil
}

type failSyncFile struct {
	vfs.File
	fail *atomic.Bool
}

func (f *failSyncFile) Sync() error {
	if f.fail.Load() {
		return errInjected
	}
	return f.File.Sync()
}

// A failed MANIFEST write stops writes (fail-stop): what the MANIFEST holds
// is unknown. Reads keep working, and reopening recovers everything.
func TestManifestFailureStopsWrites(t *testing.T) {
	mem := vfs.NewMem()
	fs := &manifestSyncFailFS{FS: mem}
	db, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	fs.fail.Store(true)
	err = db.Flush()
	require.ErrorIs(t, err, dkv.ErrStopped)
	require.ErrorIs(t, err, errInjected)
	require.ErrorIs(t, db.Put([]byte("k2"), []byte("v")), dkv.ErrStopped)
	_, err = db.Get([]byte("k"))
	require.NoError(t, err)
	require.ErrorIs(t, db.Close(), dkv.ErrStopped)

	db, err = dkv.Open("/db", &dkv.Options{FS: mem, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer db.Close()
	v, err := db.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}

// A MANIFEST past its size limit is rewritten as a snapshot in a new file:
// one MANIFEST remains, and the database reopens with every table.
func TestManifestRotation(t *testing.T) {
	fs := vfs.NewMem()
	o := &dkv.Options{FS: fs, MaxManifestFileSize: 1 << 10, Logger: slog.New(slog.DiscardHandler)}
	db, err := dkv.Open("/db", o)
	require.NoError(t, err)
	first := listFiles(t, fs, "MANIFEST-")
	for i := range 30 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%02d", i)), []byte("v")))
		require.NoError(t, db.Flush())
	}
	require.NoError(t, db.Close())
	require.Len(t, listFiles(t, fs, "MANIFEST-"), 1)
	require.NotEqual(t, first, listFiles(t, fs, "MANIFEST-"), "the MANIFEST was rewritten")
	db, err = dkv.Open("/db", o)
	require.NoError(t, err)
	defer db.Close()
	for i := range 30 {
		_, err := db.Get([]byte(fmt.Sprintf("k%02d", i)))
		require.NoError(t, err)
	}
}

// Open deletes the files the state does not need — a table no MANIFEST
// names, a log below the log number, an old MANIFEST, a temporary file —
// and leaves files dkv does not own alone.
func TestOrphansDeleted(t *testing.T) {
	db, fs := openMem(t, nil)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Flush())
	require.NoError(t, db.Close())
	for _, name := range []string{"000900.sst", "000001.log", "MANIFEST-000001", "000950.tmp", "notes.txt", "000077.bak"} {
		writeFile(t, fs, "/db/"+name, []byte("junk"))
	}
	db, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer db.Close()
	names, err := fs.List("/db")
	require.NoError(t, err)
	for _, gone := range []string{"000900.sst", "000001.log", "MANIFEST-000001", "000950.tmp"} {
		require.NotContains(t, names, gone)
	}
	require.Contains(t, names, "notes.txt")
	require.Contains(t, names, "000077.bak")
	v, err := db.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}

// A directory with tables but no CURRENT is not a new database: Open
// refuses it instead of deleting the tables as orphans.
func TestMissingCurrent(t *testing.T) {
	db, fs := openMem(t, nil)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Flush())
	require.NoError(t, db.Close())
	require.NoError(t, fs.Remove("/db/CURRENT"))
	_, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.ErrorIs(t, err, dkv.ErrCorruption)
	require.NotEmpty(t, listFiles(t, fs, ".sst"), "the tables are still there")
}

// Nor is a directory with a log holding records but no CURRENT (issue 13:
// it opened as a new database and truncated the log to nothing). A log
// holding only its header — a crash while a new database was created — is
// what Open may start over from.
func TestMissingCurrentWithLog(t *testing.T) {
	db, fs := openMem(t, nil)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Close())
	require.NoError(t, fs.Remove("/db/CURRENT"))
	before := snapshotDir(t, fs, "/db")
	_, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.ErrorIs(t, err, dkv.ErrCorruption)
	require.Contains(t, err.Error(), "a log with records")
	require.Equal(t, before, snapshotDir(t, fs, "/db"), "nothing changed")

	// Only the log's header: a new database.
	fs = vfs.NewMem()
	db, err = dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NoError(t, fs.Remove("/db/CURRENT"))
	db, err = dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.Empty(t, dkv.DBContents(t, db))
	require.NoError(t, db.Close())
}

// A flipped byte in a table yields ErrCorruption naming the table and an
// offset from the read that touches it — never a wrong value.
func TestCorruptTable(t *testing.T) {
	db, fs := openMem(t, &dkv.Options{Levels: allLevels(dkv.LevelOptions{BlockSize: 256})})
	for i := range 200 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint("value-", i))))
	}
	require.NoError(t, db.Flush())
	require.NoError(t, db.Close())
	tables := listFiles(t, fs, ".sst")
	require.Len(t, tables, 1)
	data := []byte(snapshotDir(t, fs, "/db")[tables[0]])
	data[300] ^= 0x10 // inside an early data block
	writeFile(t, fs, "/db/"+tables[0], data)

	db, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err, "Open reads only the table's metadata")
	defer db.Close()
	corrupt := 0
	for i := range 200 {
		v, err := db.Get([]byte(fmt.Sprintf("k%03d", i)))
		if err != nil {
			require.ErrorIs(t, err, dkv.ErrCorruption)
			var ce *dkv.CorruptionError
			require.True(t, errors.As(err, &ce))
			require.Equal(t, "/db/"+tables[0], ce.File)
			require.LessOrEqual(t, ce.Offset, int64(300))
			corrupt++
			continue
		}
		require.Equal(t, fmt.Sprint("value-", i), string(v), "never a wrong value")
	}
	require.Positive(t, corrupt)
}

// A table the MANIFEST names but the directory lacks is corruption at Open,
// not an error at the first read that needs it.
func TestMissingTable(t *testing.T) {
	db, fs := openMem(t, nil)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Flush())
	require.NoError(t, db.Close())
	tables := listFiles(t, fs, ".sst")
	require.NotEmpty(t, tables)
	require.NoError(t, fs.Remove("/db/"+tables[0]))
	_, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.ErrorIs(t, err, dkv.ErrCorruption)
	require.ErrorContains(t, err, "missing")
}
