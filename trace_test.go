package dkv_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/sstable"
	"github.com/distributedkv/dkv/vfs"
)

// traceGet reads key with tracing and returns the value, the error and the
// steps.
func traceGet(t *testing.T, db *dkv.DB, key string) ([]byte, []dkv.TraceEvent, error) {
	t.Helper()
	var steps []dkv.TraceEvent
	v, err := db.GetWith([]byte(key), &dkv.ReadOptions{Trace: func(e dkv.TraceEvent) { steps = append(steps, e) }})
	for _, s := range steps {
		require.NotEmpty(t, s.String())
	}
	return v, steps, err
}

// A traced read reports each source it consulted, in the read path's
// order, and ends with what decided the answer; the answer is Get's.
func TestTraceGet(t *testing.T) {
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer db.Close()
	put := func(k, v string) { require.NoError(t, db.Put([]byte(k), []byte(v))) }
	put("a", "bottom")
	put("gone", "x")
	put("ranged", "x")
	require.NoError(t, db.Compact(context.Background(), nil, nil)) // into L6
	put("b", "l0")
	require.NoError(t, db.Delete([]byte("gone")))
	require.NoError(t, db.Flush()) // an L0 table
	require.NoError(t, db.DeleteRange([]byte("r"), []byte("s")))
	put("c", "mem")

	// In the memtable: one step, then the result.
	v, steps, err := traceGet(t, db, "c")
	require.NoError(t, err)
	require.Equal(t, "mem", string(v))
	require.Len(t, steps, 2)
	mt := steps[0].(*dkv.MemTableTrace)
	require.True(t, mt.Found)
	require.Equal(t, base.KindSet, mt.Kind)
	require.True(t, steps[1].(*dkv.ReadResultTrace).Found)

	// In L6: the memtable's filter says absent, the L0 table's range holds
	// "a"? No: it starts at "b", so it is passed over; L6's table is read.
	v, steps, err = traceGet(t, db, "a")
	require.NoError(t, err)
	require.Equal(t, "bottom", string(v))
	require.Equal(t, "memtable", strings.Fields(steps[0].String())[0])
	require.False(t, steps[0].(*dkv.MemTableTrace).Found)
	skipped := steps[1].(*dkv.LevelTrace)
	require.Equal(t, 0, skipped.Level)
	require.Contains(t, skipped.Reason, "does not hold the key")
	tt := steps[2].(*dkv.TableTrace)
	require.Equal(t, 6, tt.Level)
	require.Equal(t, sstable.FilterMayContain, tt.Filter)
	require.Len(t, tt.Blocks, 1)
	require.True(t, tt.Found)
	res := steps[3].(*dkv.ReadResultTrace)
	require.True(t, res.Found)
	require.Contains(t, res.Reason, "L6")
	require.Len(t, steps, 4)

	// Deleted in L0: the tombstone decides.
	_, steps, err = traceGet(t, db, "gone")
	require.ErrorIs(t, err, dkv.ErrNotFound)
	last := steps[len(steps)-1].(*dkv.ReadResultTrace)
	require.False(t, last.Found)
	require.Equal(t, base.KindDelete, last.Kind)
	require.Contains(t, last.Reason, "deletion")

	// Under a range deletion in the memtable.
	_, steps, err = traceGet(t, db, "ranged")
	require.ErrorIs(t, err, dkv.ErrNotFound)
	require.NotZero(t, steps[0].(*dkv.MemTableTrace).RangeDelSeq)
	last = steps[len(steps)-1].(*dkv.ReadResultTrace)
	require.Equal(t, base.KindRangeDelete, last.Kind)

	// Absent everywhere.
	_, steps, err = traceGet(t, db, "zzz")
	require.ErrorIs(t, err, dkv.ErrNotFound)
	last = steps[len(steps)-1].(*dkv.ReadResultTrace)
	require.False(t, last.Found)
	require.Zero(t, last.Seq)

	// A second read of "a" finds its block in the cache.
	_, steps, _ = traceGet(t, db, "a")
	require.True(t, steps[2].(*dkv.TableTrace).Blocks[0].Cached)

	// Without a trace function, GetWith is Get.
	v, err = db.GetWith([]byte("c"), &dkv.ReadOptions{})
	require.NoError(t, err)
	require.Equal(t, "mem", string(v))
	v, err = db.GetWith([]byte("c"), nil)
	require.NoError(t, err)
	require.Equal(t, "mem", string(v))
}

// A traced write reports its sequence numbers, its log record, the flush
// that wrote it and the fsync that made it durable.
func TestTraceWrite(t *testing.T) {
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Put([]byte("first"), []byte("1")))
	for _, sync := range []bool{true, false} {
		b := db.NewBatch()
		require.NoError(t, b.Put([]byte("k"), []byte("v")))
		require.NoError(t, b.Delete([]byte("first")))
		var steps []dkv.TraceEvent
		require.NoError(t, db.Write(b, &dkv.WriteOptions{Sync: sync, Trace: func(e dkv.TraceEvent) { steps = append(steps, e) }}))
		b.Close()
		require.Len(t, steps, 1)
		wt := steps[0].(*dkv.WriteTrace)
		require.Equal(t, 2, wt.Count)
		require.NotZero(t, wt.LogFile)
		require.Greater(t, wt.Size, int64(0))
		require.Greater(t, wt.Offset, int64(0))
		require.GreaterOrEqual(t, wt.WrittenWith, 1)
		require.Equal(t, sync, wt.Synced)
		if sync {
			require.GreaterOrEqual(t, wt.SyncedWith, 1)
			require.Equal(t, base.SeqNum(2), wt.FirstSeq)
		} else {
			require.Equal(t, base.SeqNum(4), wt.FirstSeq)
		}
		require.Greater(t, wt.MemTableSize, int64(0))
		require.Contains(t, wt.String(), wt.LogFile.String()+".log")
	}
}
