package dkv_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// modelOptionSets are the option sets the random-operations test runs
// under: each makes a different path run constantly — tiny memtables (a
// flush every few writes), tiny blocks and level targets (compactions of
// every kind), no compression, Zstd, concurrent compactions, no cache.
func modelOptionSets() map[string]dkv.Options {
	return map[string]dkv.Options{
		"tiny": {MemTableSize: 4 << 10, LBaseMaxBytes: 16 << 10, TargetFileSize: 4 << 10, L0CompactionThreshold: 2,
			Levels: allLevels(dkv.LevelOptions{BlockSize: 256, Compression: dkv.NoCompression})},
		"zstd": {MemTableSize: 8 << 10, LBaseMaxBytes: 32 << 10, TargetFileSize: 8 << 10,
			Levels: allLevels(dkv.LevelOptions{BlockSize: 1 << 10, Compression: dkv.ZstdCompression})},
		"concurrent": {MemTableSize: 8 << 10, LBaseMaxBytes: 16 << 10, TargetFileSize: 2 << 10,
			MaxConcurrentCompactions: 3, L0CompactionThreshold: 2},
		"nocache": {MemTableSize: 16 << 10, LBaseMaxBytes: 64 << 10, CacheSize: -1, BloomBitsPerKey: -1, MaxOpenFiles: 16},
	}
}

// modelSnapshot is a snapshot with the model state it must see.
type modelSnapshot struct {
	snap  *dkv.Snapshot
	state map[string]string
}

// TestRandomOpsModel runs random operations — puts, deletes, range
// deletions, batches,
// gets, iterators in both directions with and without bounds, snapshots
// held across flushes and compactions, manual compactions, reopens —
// against a sorted-map model, under each option set. Every read must match
// the model, at the moment the read's view was taken.
func TestRandomOpsModel(t *testing.T) {
	steps := 5000
	if testing.Short() {
		steps = 1000
	}
	if s := os.Getenv("DKV_MODEL_STEPS"); s != "" {
		steps, _ = strconv.Atoi(s)
	}
	defer func() { dkv.SoakCount(t, "model-steps", int64(steps*len(modelOptionSets()))) }()
	for name, o := range modelOptionSets() {
		t.Run(name, func(t *testing.T) {
			runModel(t, o, steps, 42+dkv.SoakSeedBase())
		})
	}
}

// modelRange returns a range deletion's bounds: usually a few keys, now
// and then a tenth of the key space.
func modelRange(rng *rand.Rand) (start, end string) {
	lo := rng.IntN(400)
	width := 1 + rng.IntN(8)
	if rng.IntN(8) == 0 {
		width = 40
	}
	return fmt.Sprintf("k%03d", lo), fmt.Sprintf("k%03d", lo+width)
}

func runModel(t *testing.T, o dkv.Options, steps int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	fs := vfs.NewMem()
	o.FS, o.Logger, o.NoSync = fs, slog.New(slog.DiscardHandler), true
	db, err := dkv.Open("/db", &o)
	require.NoError(t, err)
	model := map[string]string{}
	var snaps []modelSnapshot
	key := func() string { return fmt.Sprintf("k%03d", rng.IntN(400)) }
	value := func(i int) string { return fmt.Sprintf("v%d-%s", i, strings.Repeat("x", rng.IntN(60))) }

	for i := range steps {
		switch r := rng.IntN(1000) / 10; {
		case r < 35:
			k, v := key(), value(i)
			require.NoError(t, db.Put([]byte(k), []byte(v)))
			model[k] = v
		case r < 46:
			k := key()
			require.NoError(t, db.Delete([]byte(k)))
			delete(model, k)
		case r < 50:
			start, end := modelRange(rng)
			require.NoError(t, db.DeleteRange([]byte(start), []byte(end)))
			dkv.DeleteModelRange(model, start, end)
		case r < 58:
			b := db.NewBatch()
			for range 1 + rng.IntN(10) {
				k := key()
				if rng.IntN(10) == 0 {
					start, end := modelRange(rng)
					require.NoError(t, b.DeleteRange([]byte(start), []byte(end)))
					dkv.DeleteModelRange(model, start, end)
				} else if rng.IntN(3) == 0 {
					require.NoError(t, b.Delete([]byte(k)))
					delete(model, k)
				} else {
					v := value(i)
					require.NoError(t, b.Put([]byte(k), []byte(v)))
					model[k] = v
				}
			}
			require.NoError(t, db.Write(b, nil))
		case r < 68:
			k := key()
			v, err := db.Get([]byte(k))
			checkGet(t, model, k, v, err, "step %d", i)
		case r < 78:
			lower, upper := randomBounds(rng)
			it, err := db.NewIter(&dkv.IterOptions{LowerBound: lower, UpperBound: upper})
			require.NoError(t, err)
			checkIter(t, rng, it, model, lower, upper, fmt.Sprintf("step %d", i))
		case r < 82:
			snaps = append(snaps, modelSnapshot{snap: db.NewSnapshot(), state: maps.Clone(model)})
		case r < 90 && len(snaps) > 0:
			s := snaps[rng.IntN(len(snaps))]
			if rng.IntN(2) == 0 {
				k := key()
				v, err := s.snap.Get([]byte(k))
				checkGet(t, s.state, k, v, err, "step %d snapshot", i)
			} else {
				lower, upper := randomBounds(rng)
				it, err := s.snap.NewIter(&dkv.IterOptions{LowerBound: lower, UpperBound: upper})
				require.NoError(t, err)
				checkIter(t, rng, it, s.state, lower, upper, fmt.Sprintf("step %d snapshot", i))
			}
		case r < 93 && len(snaps) > 0:
			j := rng.IntN(len(snaps))
			require.NoError(t, snaps[j].snap.Close())
			snaps = slices.Delete(snaps, j, j+1)
		case r < 96:
			require.NoError(t, db.Flush())
		case r < 98:
			lo, hi := randomBounds(rng)
			require.NoError(t, db.Compact(context.Background(), lo, hi))
		case rng.IntN(6) != 0:
			// Reopen rarely: the rest of this slot is more writes.
			k, v := key(), value(i)
			require.NoError(t, db.Put([]byte(k), []byte(v)))
			model[k] = v
		default:
			for _, s := range snaps {
				require.NoError(t, s.snap.Close())
			}
			snaps = nil
			require.NoError(t, db.Close())
			db, err = dkv.Open("/db", &o)
			require.NoError(t, err)
		}
	}
	for _, s := range snaps {
		require.NoError(t, s.snap.Close())
	}
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	checkIter(t, rng, it, model, nil, nil, "final")
	m := db.Metrics()
	t.Logf("since the last reopen: flushes %d, compactions %d (%d moves)\n%s", m.Flush.Count, m.Compaction.Count, m.Compaction.Moves, m)
	require.NoError(t, db.Close())
}

func randomBounds(rng *rand.Rand) (lower, upper []byte) {
	if rng.IntN(3) == 0 {
		lower = []byte(fmt.Sprintf("k%03d", rng.IntN(400)))
	}
	if rng.IntN(3) == 0 {
		upper = []byte(fmt.Sprintf("k%03d", rng.IntN(400)))
	}
	if lower != nil && upper != nil && bytes.Compare(lower, upper) > 0 {
		lower, upper = upper, lower
	}
	return lower, upper
}

func checkGet(t *testing.T, model map[string]string, k string, v []byte, err error, format string, args ...any) {
	t.Helper()
	where := fmt.Sprintf(format, args...) + " key " + k
	if want, ok := model[k]; ok {
		require.NoError(t, err, where)
		require.Equal(t, want, string(v), where)
	} else {
		require.ErrorIs(t, err, dkv.ErrNotFound, where)
	}
}

// checkIter runs random moves on it and compares each position with the
// sorted keys of model within [lower, upper). It closes it.
func checkIter(t *testing.T, rng *rand.Rand, it *dkv.Iterator, model map[string]string, lower, upper []byte, where string) {
	t.Helper()
	var keys []string
	for k := range model {
		if (lower == nil || k >= string(lower)) && (upper == nil || k < string(upper)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	pos := -1 // index in keys, or -1 / len(keys) when not positioned
	check := func(ok bool, op string) {
		t.Helper()
		valid := pos >= 0 && pos < len(keys)
		require.Equal(t, valid, ok, "%s: %s", where, op)
		require.Equal(t, valid, it.Valid(), "%s: %s", where, op)
		if valid {
			require.Equal(t, keys[pos], string(it.Key()), "%s: %s", where, op)
			require.Equal(t, model[keys[pos]], string(it.Value()), "%s: %s", where, op)
		}
	}
	for range 1 + rng.IntN(30) {
		switch r := rng.IntN(6); r {
		case 0:
			pos = 0
			check(it.First(), "First")
		case 1:
			pos = len(keys) - 1
			check(it.Last(), "Last")
		case 2:
			k := fmt.Sprintf("k%03d", rng.IntN(400))
			pos, _ = slices.BinarySearch(keys, k)
			check(it.SeekGE([]byte(k)), "SeekGE "+k)
		case 3:
			k := fmt.Sprintf("k%03d", rng.IntN(400))
			pos, _ = slices.BinarySearch(keys, k)
			pos--
			check(it.SeekLT([]byte(k)), "SeekLT "+k)
		case 4, 5:
			if pos < 0 || pos >= len(keys) {
				continue
			}
			for range 1 + rng.IntN(5) {
				if r == 4 {
					pos++
					check(it.Next(), "Next")
				} else {
					pos--
					check(it.Prev(), "Prev")
				}
				if pos < 0 || pos >= len(keys) {
					break
				}
			}
		}
	}
	require.NoError(t, it.Error(), where)
	require.NoError(t, it.Close(), where)
}
