package dkv

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
)

// splitKey picks the separator whose bytes at or below it are closest to
// half of the total, strictly inside the bounds and with bytes left above
// it; equal separators (blocks of different tables) count together.
func TestEstimateSplitPick(t *testing.T) {
	e := func(k string, n uint64) splitEntry { return splitEntry{key: []byte(k), size: n} }
	for i, c := range []struct {
		entries    []splitEntry
		start, end string
		want       string // "": none
	}{
		{nil, "", "", ""},
		{[]splitEntry{e("b", 10)}, "", "", ""}, // nothing would lie above
		{[]splitEntry{e("b", 10), e("b", 10)}, "", "", ""},
		{[]splitEntry{e("b", 10), e("d", 10)}, "", "", "b"},
		{[]splitEntry{e("f", 10), e("b", 10), e("h", 10), e("d", 10)}, "", "", "d"}, // sorted first
		{[]splitEntry{e("b", 1), e("c", 1), e("d", 100)}, "", "", "c"},
		{[]splitEntry{e("b", 10), e("c", 10), e("b", 10), e("d", 10)}, "", "", "b"}, // b: 20 of 40
		{[]splitEntry{e("a", 10), e("c", 10), e("e", 10)}, "a", "", "c"},            // not at start
		{[]splitEntry{e("a", 10), e("c", 30), e("e", 10)}, "", "c", "a"},            // not at end
		{[]splitEntry{e("a", 10), e("c", 30)}, "a", "", ""},
	} {
		var start, end []byte
		if c.start != "" {
			start = []byte(c.start)
		}
		if c.end != "" {
			end = []byte(c.end)
		}
		require.Equal(t, c.want, string(splitKey(c.entries, start, end)), "case %d", i)
	}
}

// Merging a table's blocks into runs bounds the entries EstimateSplitKey
// sorts without losing bytes, and the split found from the runs is still
// near the middle.
func TestEstimateSplitRuns(t *testing.T) {
	opts := &Options{FS: vfs.NewMem(), MemTableSize: 32 << 10, LBaseMaxBytes: 64 << 10, TargetFileSize: 16 << 10,
		L0CompactionThreshold: 2, NoSync: true, Logger: discardLogger()}
	for i := range opts.Levels {
		opts.Levels[i].BlockSize = 512
	}
	db, err := Open("/db", opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	for i := range 20_000 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "key%05d", (i*7919)%20_000), fmt.Appendf(nil, "value %d of some length", i)))
	}
	require.NoError(t, db.Flush())
	for db.Metrics().Compaction.Running > 0 {
		time.Sleep(time.Millisecond)
	}

	rs := db.loadReadState()
	defer rs.unref()
	v := rs.version.Version
	total, err := db.estimateDiskUsage(v, nil, nil)
	require.NoError(t, err)
	blocks, err := db.splitBlocks(v, nil, nil, 1)
	require.NoError(t, err)
	// A run that holds keys on both sides of the split key counts as
	// above it: the split is off by up to a run per table there.
	grain := total / 256
	runs, err := db.splitBlocks(v, nil, nil, grain)
	require.NoError(t, err)
	t.Logf("%d tables, %d bytes, %d blocks, %d runs of %d bytes", v.NumFiles(), total, len(blocks), len(runs), grain)

	sum := func(es []splitEntry) (n uint64) {
		for _, e := range es {
			n += e.size
		}
		return n
	}
	require.Equal(t, sum(blocks), sum(runs))
	require.Greater(t, len(blocks), 2*len(runs))
	require.LessOrEqual(t, uint64(len(runs)), total/grain+uint64(v.NumFiles()))

	k := splitKey(runs, nil, nil)
	require.NotNil(t, k)
	below, err := db.estimateDiskUsage(v, nil, k)
	require.NoError(t, err)
	t.Logf("split at %q: %.3f of the bytes below", k, float64(below)/float64(total))
	require.InDelta(t, 0.5, float64(below)/float64(total), 0.1)
}
