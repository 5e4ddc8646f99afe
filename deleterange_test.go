package dkv_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

func putKeys(t *testing.T, db *dkv.DB, n int, value string) {
	t.Helper()
	b := db.NewBatch()
	for i := range n {
		require.NoError(t, b.Put(fmt.Appendf(nil, "k%05d", i), []byte(value)))
		if b.Len() == 1000 {
			require.NoError(t, db.Write(b, nil))
			b.Reset()
		}
	}
	require.NoError(t, db.Write(b, nil))
}

// scanKeys returns every key an iterator over the view sees, in order, and
// checks that Prev walks the same keys back.
func scanKeys(t *testing.T, newIter func(*dkv.IterOptions) (*dkv.Iterator, error), o *dkv.IterOptions) []string {
	t.Helper()
	it, err := newIter(o)
	require.NoError(t, err)
	var keys []string
	for ok := it.First(); ok; ok = it.Next() {
		keys = append(keys, string(it.Key()))
	}
	i := len(keys)
	for ok := it.Last(); ok; ok = it.Prev() {
		i--
		require.Equal(t, keys[i], string(it.Key()))
	}
	require.Zero(t, i)
	require.NoError(t, it.Error())
	require.NoError(t, it.Close())
	return keys
}

// DeleteRange hides exactly [start, end) wherever the keys live — memtable,
// L0, deeper levels — for Get and iterators in both directions; a key
// written afterwards is back; a snapshot taken before still sees
// everything, across flushes and compactions.
func TestDeleteRangeEverywhere(t *testing.T) {
	for _, stage := range []string{"memtable", "flushed", "compacted"} {
		t.Run(stage, func(t *testing.T) {
			db, _ := openMem(t, &dkv.Options{MemTableSize: 64 << 10, TargetFileSize: 16 << 10})
			defer db.Close()
			putKeys(t, db, 2000, "old")
			switch stage {
			case "flushed":
				require.NoError(t, db.Flush())
			case "compacted":
				require.NoError(t, db.Compact(context.Background(), nil, nil))
			}
			snap := db.NewSnapshot()
			defer snap.Close()
			require.NoError(t, db.DeleteRange([]byte("k00100"), []byte("k01900")))
			require.NoError(t, db.Put([]byte("k00500"), []byte("new")))

			check := func(when string) {
				for _, c := range []struct {
					key  string
					want string
				}{{"k00099", "old"}, {"k00100", ""}, {"k00499", ""}, {"k00500", "new"}, {"k01899", ""}, {"k01900", "old"}} {
					v, err := db.Get([]byte(c.key))
					if c.want == "" {
						require.ErrorIs(t, err, dkv.ErrNotFound, "%s: %s", when, c.key)
					} else {
						require.NoError(t, err, "%s: %s", when, c.key)
						require.Equal(t, c.want, string(v), "%s: %s", when, c.key)
					}
					v, err = snap.Get([]byte(c.key))
					require.NoError(t, err, "%s: snapshot %s", when, c.key)
					require.Equal(t, "old", string(v), "%s: snapshot %s", when, c.key)
				}
				keys := scanKeys(t, db.NewIter, nil)
				require.Len(t, keys, 100+1+100, when)
				require.Equal(t, "k00099", keys[99])
				require.Equal(t, "k00500", keys[100])
				require.Equal(t, "k01900", keys[101])
				require.Len(t, scanKeys(t, db.NewIter, &dkv.IterOptions{LowerBound: []byte("k00050"), UpperBound: []byte("k01950")}), 50+1+50, when)
				require.Len(t, scanKeys(t, snap.NewIter, nil), 2000, when)
			}
			check("before flush")
			require.NoError(t, db.Flush())
			check("after flush")
			require.NoError(t, db.Compact(context.Background(), nil, nil))
			check("after compaction")
		})
	}
}

// A range deletion costs one log record and one memtable entry, however
// many keys it covers: its cost does not depend on the data.
func TestDeleteRangeCostIndependentOfKeys(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	putKeys(t, db, 50000, "v")
	before := db.Metrics()
	require.NoError(t, db.DeleteRange([]byte("k"), []byte("l")))
	after := db.Metrics()
	require.Equal(t, before.WAL.Records+1, after.WAL.Records)
	require.Less(t, after.WAL.Bytes-before.WAL.Bytes, int64(64), "one small record")
	require.Equal(t, before.MemTable.Entries+1, after.MemTable.Entries)
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	require.False(t, it.First())
	require.NoError(t, it.Close())
}

// Compaction drops a range tombstone together with the data it covers: a
// database emptied by DeleteRange shrinks to nothing once compacted, and
// no table keeps a range tombstone. An open snapshot keeps the data until
// it closes.
func TestDeleteRangeReclaimsSpace(t *testing.T) {
	db, _ := openMem(t, &dkv.Options{MemTableSize: 256 << 10, TargetFileSize: 64 << 10})
	defer db.Close()
	putKeys(t, db, 20000, "a value of some length, to take some space")
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	full := totalSize(db.Metrics())
	require.Greater(t, full, uint64(100<<10))

	snap := db.NewSnapshot()
	require.NoError(t, db.DeleteRange([]byte("k00000"), []byte("k15000")))
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	require.Greater(t, totalSize(db.Metrics()), full*9/10, "the snapshot still needs the data")
	require.Len(t, scanKeys(t, snap.NewIter, nil), 20000)
	require.NoError(t, snap.Close())

	require.NoError(t, db.Compact(context.Background(), nil, nil))
	left := totalSize(db.Metrics())
	require.Less(t, left, full/3, "a quarter of the keys are left")
	keys := scanKeys(t, db.NewIter, nil)
	require.Len(t, keys, 5000)
	require.Equal(t, "k15000", keys[0])

	require.NoError(t, db.DeleteRange([]byte("k"), []byte("l")))
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	require.Zero(t, totalSize(db.Metrics()), "nothing left: the tombstone went with the data")
	t.Logf("20,000 keys: %d bytes; after deleting 15,000 by range and compacting: %d; after deleting the rest: 0", full, left)
	require.Empty(t, scanKeys(t, db.NewIter, nil))
}

func totalSize(m *dkv.Metrics) uint64 {
	var n uint64
	for _, l := range m.Levels {
		n += l.Size
	}
	return n
}

// A range deletion is durable like any write: synced, it survives a power
// loss, from the log or from the tables it was flushed to; in a batch it
// is atomic with the batch's other writes.
func TestDeleteRangeSurvivesCrash(t *testing.T) {
	for _, flushed := range []bool{false, true} {
		db, fs := openMem(t, nil)
		putKeys(t, db, 300, "v")
		b := db.NewBatch()
		require.NoError(t, b.DeleteRange([]byte("k00010"), []byte("k00200")))
		require.NoError(t, b.Put([]byte("k00100"), []byte("kept")))
		require.NoError(t, b.Put([]byte("z"), []byte("marker")))
		require.NoError(t, db.Write(b, &dkv.WriteOptions{Sync: true}))
		if flushed {
			require.NoError(t, db.Flush())
		}
		crashed := fs.CrashClone(vfs.CrashOptions{})
		require.NoError(t, db.Close())

		db2, err := dkv.Open("/db", &dkv.Options{FS: crashed, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		keys := scanKeys(t, db2.NewIter, nil)
		require.Len(t, keys, 10+1+100+1, "flushed %v", flushed)
		v, err := db2.Get([]byte("k00100"))
		require.NoError(t, err)
		require.Equal(t, "kept", string(v))
		require.NoError(t, db2.Close())
	}
}

// Bad arguments are refused with ErrInvalidArgument and change nothing; an
// empty range is a no-op; a closed DB says so. (A nil bound is not bad:
// it is unbounded, TestDeleteRangeUnbounded.)
func TestDeleteRangeArguments(t *testing.T) {
	db, _ := openMem(t, nil)
	require.NoError(t, db.Put([]byte("b"), []byte("v")))
	require.ErrorIs(t, db.DeleteRange([]byte("c"), []byte("a")), dkv.ErrInvalidArgument)
	require.NoError(t, db.DeleteRange([]byte("b"), []byte("b")))
	v, err := db.Get([]byte("b"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))

	b := db.NewBatch()
	require.NoError(t, b.Put([]byte("x"), []byte("1")))
	require.ErrorIs(t, b.DeleteRange([]byte("z"), []byte("y")), dkv.ErrInvalidArgument)
	require.ErrorIs(t, db.Write(b, nil), dkv.ErrInvalidArgument, "a batch with a refused operation is refused whole")
	_, err = db.Get([]byte("x"))
	require.ErrorIs(t, err, dkv.ErrNotFound)

	require.NoError(t, db.Close())
	require.ErrorIs(t, db.DeleteRange([]byte("a"), []byte("b")), dkv.ErrClosed)
	require.ErrorIs(t, db.DeleteRange([]byte("a"), []byte("a")), dkv.ErrClosed)
}

// A nil start or end is unbounded, as everywhere else (issue 13): the
// range deletes every key below end, or from start on — in the memtable,
// in the tables, earlier in the same batch, up to the largest possible
// key — and not the keys written after it. The result survives reopening
// (the log holds the end the write fixed) and compaction, and a snapshot
// from before still sees every key.
func TestDeleteRangeUnbounded(t *testing.T) {
	db, fs := openMem(t, nil)
	ctx := context.Background()
	largest := string(bytes.Repeat([]byte{0xff}, dkv.MaxKeySize)) // no key is above it
	want := map[string]string{}
	put := func(keys ...string) {
		for _, k := range keys {
			require.NoError(t, db.Put([]byte(k), []byte("v")))
			want[k] = "v"
		}
	}
	put("a1", "a2", "k1", "k5", "k9", "z", largest)
	require.NoError(t, db.Compact(ctx, nil, nil))
	put("b1", "k6", "zz")
	snap := db.NewSnapshot()
	before := maps.Clone(want)

	b := db.NewBatch()
	require.NoError(t, b.Put([]byte("zzz"), []byte("earlier in the batch")))
	require.NoError(t, b.DeleteRange([]byte("k5"), nil))
	require.NoError(t, b.Put([]byte("k7"), []byte("after the deletion")))
	require.NoError(t, db.Write(b, nil))
	dkv.DeleteModelRange(want, "k5", "\xff\xff") // every key from k5 on
	delete(want, largest)
	want["k7"] = "after the deletion"
	require.Equal(t, want, dkv.DBContents(t, db))

	require.NoError(t, db.DeleteRange(nil, []byte("b")))
	delete(want, "a1")
	delete(want, "a2")
	require.Equal(t, want, dkv.DBContents(t, db))

	for k, v := range before {
		got, err := snap.Get([]byte(k))
		require.NoError(t, err, "%.10q", k)
		require.Equal(t, v, string(got))
	}
	require.NoError(t, snap.Close())

	require.NoError(t, db.Close())
	db, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.Equal(t, want, dkv.DBContents(t, db), "after replaying the log")
	require.NoError(t, db.Compact(ctx, nil, nil))
	require.Equal(t, want, dkv.DBContents(t, db), "after compaction")

	require.NoError(t, db.DeleteRange(nil, nil))
	require.Empty(t, dkv.DBContents(t, db))
	put("x")
	require.Equal(t, map[string]string{"x": "v"}, dkv.DBContents(t, db), "a later write is not deleted")
	require.NoError(t, db.Close())
}

// Range tombstones flow through the other features: a table holding only
// range tombstones (an empty index) is estimated without error; a
// checkpoint and a read-only open see the deletion.
func TestDeleteRangeWithOtherFeatures(t *testing.T) {
	db, fs := openMem(t, &dkv.Options{MemTableSize: 64 << 10, TargetFileSize: 16 << 10})
	putKeys(t, db, 5000, "some value")
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	require.NoError(t, db.DeleteRange([]byte("k01000"), []byte("k04000")))
	require.NoError(t, db.Flush()) // an L0 table with only the tombstone
	require.Equal(t, 1, db.Metrics().Levels[0].Files)

	whole, err := db.EstimateDiskUsage(nil, nil)
	require.NoError(t, err)
	require.Positive(t, whole)
	inside, err := db.EstimateDiskUsage([]byte("k02000"), []byte("k03000"))
	require.NoError(t, err)
	require.Less(t, inside, whole)
	_, err = db.EstimateSplitKey(nil, nil)
	require.NoError(t, err)

	require.NoError(t, db.Checkpoint(context.Background(), "/ckpt"))
	require.NoError(t, db.Close())
	for _, dir := range []string{"/db", "/ckpt"} {
		ro, err := dkv.Open(dir, &dkv.Options{FS: fs, ReadOnly: true, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err, dir)
		require.Len(t, scanKeys(t, ro.NewIter, nil), 2000, dir)
		_, err = ro.Get([]byte("k02500"))
		require.ErrorIs(t, err, dkv.ErrNotFound, dir)
		require.NoError(t, ro.Close())
	}
}

// Regression test for a review finding: Batch counted an unbounded
// DeleteRange's end as 0 bytes, and the write fixes it as up to
// MaxKeySize+1; a small batch of them became a log record past the
// limit, which the log refused — and a refused append stopped the DB.
// The batch now reserves the room, and refuses what would not fit.
func TestDeleteRangeUnboundedBatchSize(t *testing.T) {
	db, _ := openMem(t, &dkv.Options{NoSync: true})
	defer db.Close()
	require.NoError(t, db.Put(bytes.Repeat([]byte("a"), dkv.MaxKeySize), []byte("v")))
	b := db.NewBatch()
	var err error
	n := 0
	for ; err == nil && n < 20000; n++ {
		err = b.DeleteRange([]byte("a"), nil)
	}
	require.ErrorIs(t, err, dkv.ErrInvalidArgument, "the batch fills up")
	perOp := dkv.MaxKeySize + 1 // what each op reserves, less its framing
	require.LessOrEqual(t, n, dkv.MaxBatchSize/perOp+1, "at its reserved size, not its encoded one")
	require.ErrorIs(t, db.Write(b, nil), dkv.ErrInvalidArgument)
	b.Reset()
	for range 10 {
		require.NoError(t, b.DeleteRange([]byte("a"), nil))
	}
	require.NoError(t, db.Write(b, nil))
	require.NoError(t, db.Put([]byte("x"), []byte("y")), "writes go on")
	require.Equal(t, map[string]string{"x": "y"}, dkv.DBContents(t, db))
}
