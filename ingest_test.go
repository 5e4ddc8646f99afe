package dkv_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/sstable"
	"github.com/distributedkv/dkv/vfs"
)

// extOp is one entry of an external table: a Set (value non-nil), a Delete
// (value nil) or, with end set, a DeleteRange.
type extOp struct {
	key, value, end string
}

// writeExternal writes ops (points in key order) as a table at path.
func writeExternal(t *testing.T, fs vfs.FS, path string, ops ...extOp) {
	t.Helper()
	require.NoError(t, fs.MkdirAll(fs.PathDir(path), 0o755))
	f, err := fs.Create(path)
	require.NoError(t, err)
	w := sstable.NewWriter(f, sstable.WriterOptions{BlockSize: 512})
	for _, op := range ops {
		switch {
		case op.end != "":
			require.NoError(t, w.DeleteRange([]byte(op.key), []byte(op.end)))
		case op.value == "":
			require.NoError(t, w.Delete([]byte(op.key)))
		default:
			require.NoError(t, w.Set([]byte(op.key), []byte(op.value)))
		}
	}
	_, err = w.Finish()
	require.NoError(t, err)
	require.NoError(t, vfs.SyncDir(fs, fs.PathDir(path)))
	require.NoError(t, vfs.SyncDir(fs, "/"))
}

// applyExt applies ops to a model state as Ingest must.
func applyExt(state map[string]string, ops ...extOp) {
	for _, op := range ops {
		if op.end != "" {
			dkv.DeleteModelRange(state, op.key, op.end)
		}
	}
	for _, op := range ops {
		switch {
		case op.end != "":
		case op.value == "":
			delete(state, op.key)
		default:
			state[op.key] = op.value
		}
	}
}

func levelOf(t *testing.T, db *dkv.DB) []int {
	t.Helper()
	var levels []int
	for l, m := range db.Metrics().Levels {
		for range m.Files {
			levels = append(levels, l)
		}
	}
	return levels
}

// Ingested keys replace the database's versions, ingested deletions and
// range deletions hide them, wherever the old versions live (memtable,
// tables); a snapshot taken before still sees the old state; the result
// survives reopening.
func TestIngestOverExistingData(t *testing.T) {
	db, fs := openMem(t, &dkv.Options{MemTableSize: 32 << 10, TargetFileSize: 8 << 10})
	want := map[string]string{}
	for i := range 400 {
		k, v := fmt.Sprintf("k%04d", i), fmt.Sprint("old", i)
		require.NoError(t, db.Put([]byte(k), []byte(v)))
		want[k] = v
		if i == 299 {
			require.NoError(t, db.Compact(context.Background(), nil, nil)) // k0000-k0299 in tables, the rest in the memtable
		}
	}
	snap := db.NewSnapshot()
	before := maps.Clone(want)
	ops := []extOp{
		{key: "k0010", end: "k0020"}, {key: "k0350", end: "k0360"}, // over tables and over the memtable
		{key: "k0015", value: "ingested"},            // newer than the range deletion's old keys, kept
		{key: "k0100", value: "new"}, {key: "k0101"}, // a replacement and a deletion in the tables
		{key: "k0355", value: "new"}, {key: "k0370"}, // in the memtable
		{key: "k9999", value: "brand new"},
	}
	writeExternal(t, fs, "/ext/a.sst", ops...)
	require.NoError(t, db.Ingest([]string{"/ext/a.sst"}))
	applyExt(want, ops...)
	require.Equal(t, want, dkv.DBContents(t, db))
	for k, v := range before {
		got, err := snap.Get([]byte(k))
		require.NoError(t, err, k)
		require.Equal(t, v, string(got), k)
	}
	require.NoError(t, snap.Close())
	_, err := fs.Stat("/ext/a.sst")
	require.NoError(t, err, "the file given to Ingest stays")

	require.NoError(t, db.Put([]byte("k0015"), []byte("after")))
	want["k0015"] = "after"
	require.NoError(t, db.Close())
	db, err = dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.Equal(t, want, dkv.DBContents(t, db))
	require.NoError(t, db.Close())
}

// A table goes to the lowest level nothing above overlaps: the bottom for a
// new key range, just above the data it overlaps otherwise.
func TestIngestPlacement(t *testing.T) {
	db, fs := openMem(t, nil)
	defer db.Close()
	writeExternal(t, fs, "/ext/1.sst", extOp{key: "a", value: "1"}, extOp{key: "c", value: "1"})
	require.NoError(t, db.Ingest([]string{"/ext/1.sst"}))
	require.Equal(t, []int{dkv.NumLevels - 1}, levelOf(t, db), "an empty database: the bottom")

	writeExternal(t, fs, "/ext/2.sst", extOp{key: "b", value: "2"})
	writeExternal(t, fs, "/ext/3.sst", extOp{key: "x", value: "3"}, extOp{key: "z", end: "zz"})
	require.NoError(t, db.Ingest([]string{"/ext/3.sst", "/ext/2.sst"}), "any order")
	require.Equal(t, []int{dkv.NumLevels - 2, dkv.NumLevels - 1, dkv.NumLevels - 1}, levelOf(t, db),
		"b overlaps [a, c] at the bottom: one level up; [x, zz) fits beside it")

	require.NoError(t, db.Put([]byte("b"), []byte("memtable")))
	writeExternal(t, fs, "/ext/4.sst", extOp{key: "b", value: "4"})
	require.NoError(t, db.Ingest([]string{"/ext/4.sst"}))
	v, err := db.Get([]byte("b"))
	require.NoError(t, err)
	require.Equal(t, "4", string(v), "the memtable's older b was flushed below it")
	require.Equal(t, map[string]string{"a": "1", "b": "4", "c": "1", "x": "3"}, dkv.DBContents(t, db))
}

// Bad tables and bad calls are refused with a clear error and change
// nothing: overlapping tables, keys with sequence numbers, a user key
// twice, a damaged or missing file, a read-only or closed DB.
func TestIngestRefuses(t *testing.T) {
	db, fs := openMem(t, nil)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	writeExternal(t, fs, "/ext/ab.sst", extOp{key: "a", value: "1"}, extOp{key: "b", value: "1"})
	writeExternal(t, fs, "/ext/bc.sst", extOp{key: "b", value: "2"}, extOp{key: "c", value: "2"})
	writeExternal(t, fs, "/ext/twice.sst", extOp{key: "d", value: "1"}, extOp{key: "d"})
	writeExternal(t, fs, "/ext/range.sst", extOp{key: "a", end: "b"})
	f, err := fs.Create("/ext/seq.sst")
	require.NoError(t, err)
	w := sstable.NewWriter(f, sstable.WriterOptions{})
	require.NoError(t, w.AddRangeDel([]byte("a"), []byte("b"), 5))
	_, err = w.Finish()
	require.NoError(t, err)
	copyFile(t, fs, "/ext/ab.sst", "/ext/damaged.sst", func(b []byte) { b[10] ^= 0xff })

	filesBefore, err := fs.List("/db")
	require.NoError(t, err)
	for _, c := range []struct {
		paths []string
		want  error
	}{
		{[]string{"/ext/ab.sst", "/ext/bc.sst"}, dkv.ErrInvalidArgument},
		{[]string{"/ext/range.sst", "/ext/ab.sst"}, dkv.ErrInvalidArgument}, // [a, b) and a: overlap
		{[]string{"/ext/twice.sst"}, dkv.ErrInvalidArgument},
		{[]string{"/ext/seq.sst"}, dkv.ErrInvalidArgument},
		{[]string{"/ext/damaged.sst"}, dkv.ErrCorruption},
	} {
		require.ErrorIs(t, db.Ingest(c.paths), c.want, "%v", c.paths)
	}
	require.Error(t, db.Ingest([]string{"/ext/missing.sst"}))
	require.NoError(t, db.Ingest(nil), "nothing to ingest")
	filesAfter, err := fs.List("/db")
	require.NoError(t, err)
	require.Equal(t, filesBefore, filesAfter, "a refused ingest writes nothing")
	require.Equal(t, map[string]string{"k": "v"}, dkv.DBContents(t, db))
	require.NoError(t, db.Close())
	require.ErrorIs(t, db.Ingest([]string{"/ext/ab.sst"}), dkv.ErrClosed)

	ro, err := dkv.Open("/db", readOnlyOptions(fs))
	require.NoError(t, err)
	require.ErrorIs(t, ro.Ingest([]string{"/ext/ab.sst"}), dkv.ErrReadOnly)
	require.NoError(t, ro.Close())
}

func copyFile(t *testing.T, fs vfs.FS, from, to string, change func([]byte)) {
	t.Helper()
	src, err := fs.Open(from)
	require.NoError(t, err)
	st, err := src.Stat()
	require.NoError(t, err)
	b := make([]byte, st.Size())
	_, err = src.ReadAt(b, 0)
	require.NoError(t, err)
	require.NoError(t, src.Close())
	change(b)
	dst, err := fs.Create(to)
	require.NoError(t, err)
	_, err = dst.Write(b)
	require.NoError(t, err)
	require.NoError(t, dst.Sync())
	require.NoError(t, dst.Close())
}

// Contract: an Ingest is all or nothing across a power loss at any moment:
// the reopened database holds either every ingested key or none, and every
// write acknowledged before; once Ingest returned, all of them. The test
// counts the filesystem operations of one Ingest, then replays it on a copy
// of the same database for each operation, cutting the power just before
// it (keeping what was durable, and at random unsynced bytes too).
func TestIngestCrashAtEveryStep(t *testing.T) {
	base := vfs.NewMem()
	opts := func(fsys vfs.FS) *dkv.Options {
		return &dkv.Options{FS: fsys, Logger: slog.New(slog.DiscardHandler), MemTableSize: 16 << 10}
	}
	db, err := dkv.Open("/db", opts(base))
	require.NoError(t, err)
	before := map[string]string{}
	for i := range 300 {
		k, v := fmt.Sprintf("k%04d", i), fmt.Sprint("v", i)
		require.NoError(t, db.Put([]byte(k), []byte(v)))
		before[k] = v
		if i == 199 {
			require.NoError(t, db.Flush())
		}
	}
	require.NoError(t, db.Close())
	ops := []extOp{{key: "k0100", end: "k0150"}, {key: "k0120", value: "in"}, {key: "k0250", value: "in"}, {key: "k0260"}, {key: "k9"}}
	writeExternal(t, base, "/ext/x.sst", ops...)
	after := maps.Clone(before)
	applyExt(after, ops...)

	// run ingests on a fresh copy of base, crashing before operation at
	// (0: never), and returns the crashed copies.
	run := func(at int) (total int, crashes []*vfs.MemFS) {
		mem := base.CrashClone(vfs.CrashOptions{})
		var mu sync.Mutex
		n, armed := 0, false
		efs := vfs.NewErrorFS(mem, vfs.InjectorFunc(func(vfs.Op, vfs.FileKind, string) error {
			mu.Lock()
			defer mu.Unlock()
			if !armed {
				return nil
			}
			n++
			if n == at {
				crashes = []*vfs.MemFS{mem.CrashClone(vfs.CrashOptions{}),
					mem.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(uint64(at), 3))})}
			}
			return nil
		}))
		db, err := dkv.Open("/db", opts(efs))
		require.NoError(t, err)
		mu.Lock()
		armed = true
		mu.Unlock()
		require.NoError(t, db.Ingest([]string{"/ext/x.sst"}))
		mu.Lock()
		armed = false
		total = n
		mu.Unlock()
		if at == 0 {
			crashes = []*vfs.MemFS{mem.CrashClone(vfs.CrashOptions{})}
		}
		require.NoError(t, db.Close())
		return total, crashes
	}
	total, done := run(0)
	require.Equal(t, after, opensTo(t, done[0], opts), "after Ingest returned")
	sawBefore, sawAfter := 0, 0
	for at := 1; at <= total; at++ {
		_, crashes := run(at)
		require.Len(t, crashes, 2)
		for i, c := range crashes {
			switch got := opensTo(t, c, opts); {
			case maps.Equal(got, before):
				sawBefore++
			case maps.Equal(got, after):
				sawAfter++
			default:
				t.Fatalf("crash %d before operation %d of %d: the database is neither before nor after the ingest", i, at, total)
			}
		}
	}
	require.Positive(t, sawBefore)
	t.Logf("%d operations: %d crashes before the ingest took, %d after", total, sawBefore, sawAfter)
}

func opensTo(t *testing.T, fsys vfs.FS, opts func(vfs.FS) *dkv.Options) map[string]string {
	t.Helper()
	db, err := dkv.Open("/db", opts(fsys))
	require.NoError(t, err)
	defer db.Close()
	return dkv.DBContents(t, db)
}
