package dkv_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// estimateOptions make many small tables of many small blocks, with the
// same block size and compression at every level, so that a key takes the
// same bytes whichever level holds it.
func estimateOptions(fs vfs.FS) *dkv.Options {
	o := &dkv.Options{FS: fs, MemTableSize: 64 << 10, LBaseMaxBytes: 128 << 10, TargetFileSize: 32 << 10,
		L0CompactionThreshold: 2, NoSync: true, Logger: slog.New(slog.DiscardHandler)}
	for i := range o.Levels {
		o.Levels[i] = dkv.LevelOptions{BlockSize: 1 << 10, Compression: dkv.SnappyCompression}
	}
	return o
}

func estimateKey(i int) string { return fmt.Sprintf("key%06d", i) }

// estimateValue is 40 to 120 bytes that Snappy compresses to about half.
func estimateValue(rng *rand.Rand, i int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "value %06d ", i)
	for range 28 + rng.IntN(80) {
		b.WriteByte("abcd"[rng.IntN(4)])
	}
	return []byte(b.String())
}

// waitCompactions waits for the background compactions to finish, so that
// the version stays the same across the estimates that follow.
func waitCompactions(t *testing.T, db *dkv.DB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for db.Metrics().Compaction.Running > 0 {
		require.True(t, time.Now().Before(deadline), "compactions still running after a minute")
		time.Sleep(5 * time.Millisecond)
	}
}

// estimatePopulation is a DB holding each of n keys once, written in random
// order and flushed, so that background compactions spread them over
// several levels of many tables.
type estimatePopulation struct {
	db     *dkv.DB
	keys   []string // sorted
	values map[string][]byte
}

func populate(t *testing.T, n int) *estimatePopulation {
	t.Helper()
	db, err := dkv.Open("/db", estimateOptions(vfs.NewMem()))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	p := &estimatePopulation{db: db, values: map[string][]byte{}}
	rng := rand.New(rand.NewPCG(dkv.SoakSeedBase(), 42))
	for _, i := range rng.Perm(n) {
		k := estimateKey(i)
		p.values[k] = estimateValue(rng, i)
		require.NoError(t, db.Put([]byte(k), p.values[k]))
	}
	require.NoError(t, db.Flush())
	waitCompactions(t, db)
	for i := range n {
		p.keys = append(p.keys, estimateKey(i))
	}
	m := db.Metrics()
	levels, tables := 0, 0
	for _, l := range m.Levels {
		if l.Files > 0 {
			levels++
			tables += l.Files
		}
	}
	t.Logf("%d keys in %d tables on %d levels:\n%s", n, tables, levels, m)
	require.GreaterOrEqual(t, levels, 2)
	require.Greater(t, tables, 20)
	return p
}

// between returns the keys in [start, end) (nil: unbounded).
func (p *estimatePopulation) between(start, end []byte) []string {
	lo, hi := 0, len(p.keys)
	if start != nil {
		lo = sort.SearchStrings(p.keys, string(start))
	}
	if end != nil {
		hi = sort.SearchStrings(p.keys, string(end))
	}
	return p.keys[lo:max(lo, hi)]
}

// storedSize is the truth the estimates are checked against: the bytes of
// the tables that hold exactly the keys of [start, end), written alone into
// a fresh DB with the same options and compacted down to one level,
// measured by the sizes of its files. It is independent of the estimator
// (no index is consulted) and honest here because the population stores
// each key once — no overwritten versions, no tombstones — with the same
// block size and compression at every level, so the keys take the same
// bytes (blocks, their share of index and filter, table metadata) in any
// table. Summing per-key sizes from table iteration would have to share
// each compressed block among its keys: an estimate itself.
func (p *estimatePopulation) storedSize(t *testing.T, start, end []byte) int64 {
	t.Helper()
	keys := p.between(start, end)
	if len(keys) == 0 {
		return 0
	}
	fs := vfs.NewMem()
	db, err := dkv.Open("/db", estimateOptions(fs))
	require.NoError(t, err)
	for _, k := range keys {
		require.NoError(t, db.Put([]byte(k), p.values[k]))
	}
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	waitCompactions(t, db)
	require.NoError(t, db.Close())
	return tableBytes(t, fs)
}

func bound(k string) []byte {
	if k == "" {
		return nil
	}
	return []byte(k)
}

// EstimateDiskUsage is within 2x of the bytes the range's keys really take,
// for the whole DB, halves, a middle range and a small one; nothing for
// ranges without keys; and estimates of adjacent ranges add up.
func TestEstimateDiskUsage(t *testing.T) {
	const n = 30_000
	p := populate(t, n)
	usage := func(start, end string) uint64 {
		got, err := p.db.EstimateDiskUsage(bound(start), bound(end))
		require.NoError(t, err)
		return got
	}

	for _, r := range []struct{ start, end string }{
		{"", ""},
		{"", estimateKey(n / 2)},
		{estimateKey(n / 2), ""},
		{estimateKey(n / 3), estimateKey(2 * n / 3)},
		{estimateKey(12_345), estimateKey(12_645)}, // 300 keys, about 20 blocks
	} {
		got, want := usage(r.start, r.end), p.storedSize(t, bound(r.start), bound(r.end))
		ratio := float64(got) / float64(want)
		t.Logf("[%q, %q): %d keys, estimate %d bytes, stored alone %d bytes: %.3f", r.start, r.end,
			len(p.between(bound(r.start), bound(r.end))), got, want, ratio)
		require.GreaterOrEqual(t, ratio, 0.5, "[%q, %q)", r.start, r.end)
		require.LessOrEqual(t, ratio, 2.0, "[%q, %q)", r.start, r.end)
	}

	// No key inside: nothing, or at most a block or so per level at a
	// block boundary.
	require.Zero(t, usage(estimateKey(777), estimateKey(777)))
	gap := usage(estimateKey(777)+"\x00", estimateKey(778))
	t.Logf("[key000777\\x00, key000778): %d bytes", gap)
	require.LessOrEqual(t, gap, uint64(4<<10))
	require.Zero(t, usage(estimateKey(n), ""), "past the last key")
	require.Zero(t, usage("zzz", ""))
	require.Zero(t, usage("", "key"), "before the first key")
	empty, err := p.db.EstimateDiskUsage([]byte{}, []byte{})
	require.NoError(t, err)
	require.Equal(t, usage("", ""), empty, "an empty bound is unbounded")

	// Additive: a split point shares each table between the two sides.
	rng := rand.New(rand.NewPCG(dkv.SoakSeedBase(), 7))
	whole := usage("", "")
	for range 20 {
		a, b := estimateKey(rng.IntN(n)), estimateKey(rng.IntN(n))+"5"
		if a > b {
			a, b = b, a
		}
		sum := usage("", a) + usage(a, b) + usage(b, "")
		require.InDelta(t, float64(whole), float64(sum), 50, "split at %q and %q", a, b) // a byte of rounding per table cut
	}
}

// EstimateSplitKey splits a uniform range near its middle, by stored bytes
// and by key count, and finds nothing to split in a range without stored
// data.
func TestEstimateSplitKey(t *testing.T) {
	const n = 30_000
	p := populate(t, n)
	for _, r := range []struct{ start, end string }{
		{"", ""},
		{estimateKey(5_000), estimateKey(25_000)},
		{estimateKey(12_000), estimateKey(13_000)},
		{estimateKey(0), estimateKey(300)},
	} {
		start, end := bound(r.start), bound(r.end)
		k, err := p.db.EstimateSplitKey(start, end)
		require.NoError(t, err, "[%q, %q)", r.start, r.end)
		require.True(t, start == nil || string(start) < string(k), "split key %q not above %q", k, start)
		require.True(t, end == nil || string(k) < string(end), "split key %q not below %q", k, end)

		below, err := p.db.EstimateDiskUsage(start, k)
		require.NoError(t, err)
		above, err := p.db.EstimateDiskUsage(k, end)
		require.NoError(t, err)
		byBytes := float64(below) / float64(below+above)
		keysBelow, keysAbove := len(p.between(start, k)), len(p.between(k, end))
		byKeys := float64(keysBelow) / float64(keysBelow+keysAbove)
		t.Logf("[%q, %q): split at %q: %.3f of the bytes and %.3f of the keys below", r.start, r.end, k, byBytes, byKeys)
		require.InDelta(t, 0.5, byBytes, 0.25)
		require.InDelta(t, 0.5, byKeys, 0.25)

		// The key is the caller's: changing it changes no later answer.
		again, err := p.db.EstimateSplitKey(start, end)
		require.NoError(t, err)
		require.Equal(t, k, again)
		k[0] = 'x'
		again2, err := p.db.EstimateSplitKey(start, end)
		require.NoError(t, err)
		require.Equal(t, again, again2)
	}

	for _, r := range []struct{ start, end string }{
		{estimateKey(777), estimateKey(777)},
		{estimateKey(777) + "\x00", estimateKey(778)},
		{estimateKey(n), ""},
		{"", "key"},
	} {
		_, err := p.db.EstimateSplitKey(bound(r.start), bound(r.end))
		require.ErrorIs(t, err, dkv.ErrNotFound, "[%q, %q)", r.start, r.end)
	}
}

// Memtables are not on disk and not counted; a single block has no split
// point inside; bounds are checked like other calls', and a closed DB
// answers ErrClosed.
func TestEstimateEdges(t *testing.T) {
	db, err := dkv.Open("/db", estimateOptions(vfs.NewMem()))
	require.NoError(t, err)
	for _, k := range []string{"apple", "banana", "cherry"} {
		require.NoError(t, db.Put([]byte(k), []byte("fruit")))
	}
	got, err := db.EstimateDiskUsage(nil, nil)
	require.NoError(t, err)
	require.Zero(t, got, "the memtable is counted")
	_, err = db.EstimateSplitKey(nil, nil)
	require.ErrorIs(t, err, dkv.ErrNotFound)

	require.NoError(t, db.Flush()) // one table of one block
	got, err = db.EstimateDiskUsage(nil, nil)
	require.NoError(t, err)
	require.Equal(t, db.Metrics().Levels[0].Size, got)
	_, err = db.EstimateSplitKey(nil, nil)
	require.ErrorIs(t, err, dkv.ErrNotFound, "one block has no split point inside")

	_, err = db.EstimateDiskUsage([]byte("b"), []byte("a"))
	require.ErrorIs(t, err, dkv.ErrInvalidArgument)
	_, err = db.EstimateSplitKey([]byte("b"), []byte("a"))
	require.ErrorIs(t, err, dkv.ErrInvalidArgument)

	require.NoError(t, db.Close())
	_, err = db.EstimateDiskUsage(nil, nil)
	require.ErrorIs(t, err, dkv.ErrClosed)
	_, err = db.EstimateSplitKey(nil, nil)
	require.ErrorIs(t, err, dkv.ErrClosed)
}
