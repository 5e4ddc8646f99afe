package dkv_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
)

// viewContents returns every key and value a view's iterator sees, read
// forwards, and checks that reading backwards sees the same.
func viewContents(t *testing.T, newIter func(*dkv.IterOptions) (*dkv.Iterator, error), where string) map[string]string {
	t.Helper()
	it, err := newIter(nil)
	require.NoError(t, err, where)
	out := map[string]string{}
	var keys []string
	for ok := it.First(); ok; ok = it.Next() {
		out[string(it.Key())] = string(it.Value())
		keys = append(keys, string(it.Key()))
	}
	for ok := it.Last(); ok; ok = it.Prev() {
		require.NotEmpty(t, keys, where)
		require.Equal(t, keys[len(keys)-1], string(it.Key()), where)
		keys = keys[:len(keys)-1]
	}
	require.Empty(t, keys, where)
	require.NoError(t, it.Error(), where)
	require.NoError(t, it.Close(), where)
	return out
}

// checkView compares a view with the model it must see: a full scan, and
// a Get of every key the model has or had (keys), plus one never written.
func checkView(t *testing.T, get func([]byte) ([]byte, error), newIter func(*dkv.IterOptions) (*dkv.Iterator, error),
	model map[string]string, keys []string, where string) {
	t.Helper()
	require.Equal(t, model, viewContents(t, newIter, where), where)
	for _, k := range append(keys, "zzz") {
		v, err := get([]byte(k))
		checkGet(t, model, k, v, err, "%s", where)
	}
}

// Issue 13, the queue: Put(q/i), then DeleteRange(q/, q/(i-100)), so that
// each range tombstone covers every earlier one. Flushed, the queue's
// table must grow with what was written, not with its square (the bug:
// 4,000 operations made a 266 MB table from about 100 KB of writes, and
// this test's 2,000 a 63 MB one); and reads at snapshots taken along the
// queue — from the memtable, from the flushed table, and after a
// compaction — must see exactly what the queue held then.
func TestDeleteRangeQueueIsLinear(t *testing.T) {
	const ops = 2000
	db, _ := openMem(t, &dkv.Options{NoSync: true})
	defer db.Close()
	model := map[string]string{}
	type snap struct {
		s     *dkv.Snapshot
		model map[string]string
	}
	var snaps []snap
	var keys []string
	for i := range ops {
		k, v := string(queueKey(i)), fmt.Sprintf("item-%d", i)
		require.NoError(t, db.Put([]byte(k), []byte(v)))
		model[k] = v
		keys = append(keys, k)
		if i >= 100 {
			end := string(queueKey(i - 100))
			require.NoError(t, db.DeleteRange([]byte("q/"), []byte(end)))
			dkv.DeleteModelRange(model, "q/", end)
		}
		if i%400 == 150 {
			snaps = append(snaps, snap{db.NewSnapshot(), maps.Clone(model)})
		}
	}
	check := func(stage string) {
		t.Helper()
		checkView(t, db.Get, db.NewIter, model, keys, stage)
		for j, s := range snaps {
			checkView(t, s.s.Get, s.s.NewIter, s.model, keys, fmt.Sprintf("%s, snapshot %d", stage, j))
		}
	}
	check("memtable")
	require.NoError(t, db.Flush())
	m := db.Metrics()
	require.Less(t, m.Flush.Bytes, 2*m.UserBytes,
		"a queue of %d operations, %d bytes written, flushed to %d bytes", ops, m.UserBytes, m.Flush.Bytes)
	check("flushed")
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	check("compacted")
	for _, s := range snaps {
		require.NoError(t, s.s.Close())
	}
	snaps = nil
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	check("compacted without snapshots")
}

// Random overlapping range deletions, puts and deletes, with snapshots
// taken and released, flushes, compactions and reopens between them, under
// small memtables and tables: after every few operations, the latest view
// and every open snapshot must match a sorted-map model, key by key and in
// full scans. Range deletions are mostly wide and nested (the shape of
// issue 13), so that each key lies under many tombstones of different
// sequence numbers, spread over memtables and tables, with snapshots
// between them.
func TestDeleteRangeOverlappingModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			runOverlappingModel(t, 42+seed+dkv.SoakSeedBase())
		})
	}
}

func runOverlappingModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 13))
	o := dkv.Options{NoSync: true, MemTableSize: 16 << 10, TargetFileSize: 4 << 10, LBaseMaxBytes: 16 << 10, L0CompactionThreshold: 2}
	db, fs := openMem(t, &o)
	o.FS, o.Logger = fs, slog.New(slog.DiscardHandler)
	defer func() { require.NoError(t, db.Close()) }()
	const nkeys = 200
	key := func(i int) string { return fmt.Sprintf("k%03d", i) }
	var keys []string
	for i := range nkeys {
		keys = append(keys, key(i))
	}
	model := map[string]string{}
	type snap struct {
		s     *dkv.Snapshot
		model map[string]string
	}
	var snaps []snap
	checkAll := func(where string) {
		t.Helper()
		checkView(t, db.Get, db.NewIter, model, keys, where)
		for j, s := range snaps {
			checkView(t, s.s.Get, s.s.NewIter, s.model, keys, fmt.Sprintf("%s, snapshot %d", where, j))
		}
	}
	for step := range 1500 {
		where := fmt.Sprintf("seed %d step %d", seed, step)
		switch r := rng.IntN(100); {
		case r < 45:
			k, v := key(rng.IntN(nkeys)), fmt.Sprintf("v%d", step)
			require.NoError(t, db.Put([]byte(k), []byte(v)), where)
			model[k] = v
		case r < 50:
			k := key(rng.IntN(nkeys))
			require.NoError(t, db.Delete([]byte(k)), where)
			delete(model, k)
		case r < 80:
			// Nested more often than not: from the start, or around the
			// middle, to somewhere random.
			lo, hi := rng.IntN(nkeys), rng.IntN(nkeys+1)
			switch rng.IntN(3) {
			case 0:
				lo = 0
			case 1:
				lo = rng.IntN(20)
				hi = nkeys - rng.IntN(20)
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			require.NoError(t, db.DeleteRange([]byte(key(lo)), []byte(key(hi))), where)
			dkv.DeleteModelRange(model, key(lo), key(hi))
		case r < 86:
			snaps = append(snaps, snap{db.NewSnapshot(), maps.Clone(model)})
		case r < 89 && len(snaps) > 0:
			j := rng.IntN(len(snaps))
			require.NoError(t, snaps[j].s.Close(), where)
			snaps = slices.Delete(snaps, j, j+1)
		case r < 94:
			require.NoError(t, db.Flush(), where)
		case r < 98:
			require.NoError(t, db.Compact(context.Background(), nil, nil), where)
		case r < 99:
			for _, s := range snaps {
				require.NoError(t, s.s.Close())
			}
			snaps = nil
			require.NoError(t, db.Close(), where)
			var err error
			db, err = dkv.Open("/db", &o)
			require.NoError(t, err, where)
		}
		if step%25 == 24 {
			checkAll(where)
		}
	}
	checkAll("end")
	for _, s := range snaps {
		require.NoError(t, s.s.Close())
	}
}
