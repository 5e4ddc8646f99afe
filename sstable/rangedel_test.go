package sstable

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/rangedel"
	"github.com/distributedkv/dkv/vfs"
)

// writeTableWithRangeDels writes points and range tombstones to a table and
// returns its properties and bytes.
func writeTableWithRangeDels(t testing.TB, entries []kv, dels []rangedel.Tombstone, opts WriterOptions) (*Properties, []byte) {
	t.Helper()
	fs := vfs.NewMem()
	f, err := fs.Create("t.sst")
	require.NoError(t, err)
	w := NewWriter(f, opts)
	for _, e := range entries {
		require.NoError(t, w.Add(e.key, e.value))
	}
	for _, d := range dels {
		require.NoError(t, w.AddRangeDel(d.Start, d.End, d.Seq))
	}
	props, err := w.Finish()
	require.NoError(t, err)
	g, err := fs.Open("t.sst")
	require.NoError(t, err)
	data, err := io.ReadAll(g)
	require.NoError(t, err)
	require.NoError(t, g.Close())
	return props, data
}

func spansString(spans []rangedel.Span) string {
	var b bytes.Buffer
	for _, s := range spans {
		fmt.Fprintf(&b, "%s ", s)
	}
	return b.String()
}

// Range tombstones round-trip through a table fragmented, widen its key
// and sequence number ranges, and are counted in its properties; the
// point entries are unchanged.
func TestRangeDelRoundTrip(t *testing.T) {
	entries := []kv{
		{base.MakeInternalKey([]byte("c"), 5, base.KindSet), []byte("v")},
		{base.MakeInternalKey([]byte("d"), 6, base.KindSet), []byte("w")},
	}
	dels := []rangedel.Tombstone{
		{Start: []byte("d"), End: []byte("h"), Seq: 4},
		{Start: []byte("b"), End: []byte("f"), Seq: 7},
	}
	props, data := writeTableWithRangeDels(t, entries, dels, WriterOptions{})
	require.Equal(t, uint64(4), props.NumRangeDeletions) // [b,d)#7 [d,f)#7,4 [f,h)#4
	require.Equal(t, `"b"#7,RANGEDEL`, props.Smallest().String())
	require.Equal(t, `"h"#72057594037927935,RANGEDEL`, props.Largest().String())
	require.True(t, props.Largest().IsExclusiveSentinel())
	require.Equal(t, uint64(4), props.SmallestSeq)
	require.Equal(t, uint64(7), props.LargestSeq)

	r, err := openBytes(t, data, ReaderOptions{})
	require.NoError(t, err)
	require.Equal(t, "[\"b\", \"d\")#[7] [\"d\", \"f\")#[7 4] [\"f\", \"h\")#[4] ", spansString(r.RangeDels().Spans()))
	it := r.NewIter()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		require.Equal(t, entries[i].key, it.Key())
		i++
	}
	require.Equal(t, len(entries), i)
	require.NoError(t, it.Close())
	l, err := r.Layout()
	require.NoError(t, err)
	kinds := ""
	for _, b := range l.Blocks {
		kinds += b.Kind + " "
	}
	require.Equal(t, "data range-deletion index properties metaindex ", kinds)

	// A point key past the tombstones widens the largest key instead.
	entries = append(entries, kv{base.MakeInternalKey([]byte("z"), 8, base.KindSet), nil})
	props, _ = writeTableWithRangeDels(t, entries, dels, WriterOptions{})
	require.Equal(t, `"z"#8,SET`, props.Largest().String())
}

// A table may hold range tombstones and no point key: no data block, an
// empty index, nothing found by Get or an iterator.
func TestRangeDelOnlyTable(t *testing.T) {
	props, data := writeTableWithRangeDels(t, nil, []rangedel.Tombstone{{Start: []byte("a"), End: []byte("m"), Seq: 9}}, WriterOptions{BloomBitsPerKey: 10})
	require.Zero(t, props.NumEntries)
	require.Zero(t, props.NumDataBlocks)
	r, err := openBytes(t, data, ReaderOptions{})
	require.NoError(t, err)
	_, _, found, err := r.Get([]byte("b"), base.SeqNumMax)
	require.NoError(t, err)
	require.False(t, found)
	it := r.NewIter()
	require.False(t, it.First())
	require.False(t, it.Last())
	require.False(t, it.SeekGE(base.MakeInternalKey([]byte("b"), base.SeqNumMax, base.KindMax)))
	require.False(t, it.SeekLT(base.MakeInternalKey([]byte("b"), base.SeqNumMax, base.KindMax)))
	require.NoError(t, it.Error())
	require.NoError(t, it.Close())
	seq, ok := r.RangeDels().Covering([]byte("b"), base.SeqNumMax)
	require.True(t, ok)
	require.Equal(t, base.SeqNum(9), seq)

	fs := vfs.NewMem()
	f, err := fs.Create("e.sst")
	require.NoError(t, err)
	w := NewWriter(f, WriterOptions{})
	require.Error(t, w.AddRangeDel([]byte("b"), []byte("b"), 1), "an empty range is refused")
	_, err = w.Finish()
	require.Error(t, err, "a table with nothing in it is refused")
}

// Flipping any byte of a table with range tombstones is caught, or leaves
// the tombstones and entries as written: never a wrong tombstone.
func TestRangeDelEveryByteFlipIsCaught(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	entries := randomEntries(rng, 40)
	dels := []rangedel.Tombstone{
		{Start: []byte("key-000003"), End: []byte("key-000007"), Seq: 100},
		{Start: []byte("key-000005"), End: []byte("key-000011"), Seq: 101},
	}
	_, clean := writeTableWithRangeDels(t, entries, dels, WriterOptions{BlockSize: 256})
	want, err := openBytes(t, clean, ReaderOptions{})
	require.NoError(t, err)
	wantSpans := spansString(want.RangeDels().Spans())
	for pos := range clean {
		data := bytes.Clone(clean)
		data[pos] ^= 1 << (pos % 8)
		r, err := openBytes(t, data, ReaderOptions{})
		if err != nil {
			require.ErrorIs(t, err, base.ErrCorruption, "flip at %d: %v", pos, err)
			var ce *base.CorruptionError
			require.True(t, errors.As(err, &ce))
			continue
		}
		// The range-deletion block is read and checked by Open: a flip
		// that got past Open is elsewhere.
		require.Equal(t, wantSpans, spansString(r.RangeDels().Spans()), "flip at %d", pos)
	}
}

// The range-deletion block's checks refuse what a writer never produces.
func TestRangeDelBlockRefused(t *testing.T) {
	r := &Reader{name: "x.sst", opts: ReaderOptions{Comparer: base.DefaultComparer}, order: keyOrder{internal: true}, props: &Properties{}}
	for _, c := range []struct {
		name string
		keys []base.InternalKey
		ends []string
	}{
		{"point kind", []base.InternalKey{base.MakeInternalKey([]byte("a"), 1, base.KindSet)}, []string{"b"}},
		{"empty range", []base.InternalKey{base.MakeInternalKey([]byte("b"), 1, base.KindRangeDelete)}, []string{"a"}},
		{"two ends", []base.InternalKey{base.MakeInternalKey([]byte("a"), 2, base.KindRangeDelete), base.MakeInternalKey([]byte("a"), 1, base.KindRangeDelete)}, []string{"b", "c"}},
		{"overlap", []base.InternalKey{base.MakeInternalKey([]byte("a"), 2, base.KindRangeDelete), base.MakeInternalKey([]byte("b"), 1, base.KindRangeDelete)}, []string{"c", "d"}},
	} {
		w := blockWriter{restartInterval: 1}
		for i, k := range c.keys {
			w.add(encodeKey(k), []byte(c.ends[i]))
		}
		block := w.finish()
		r.props.NumRangeDeletions = uint64(len(c.keys))
		r.props.SmallestKey = encodeKey(base.MakeInternalKey([]byte("a"), 9, base.KindSet))
		r.props.LargestKey = encodeKey(base.MakeInternalKey([]byte("z"), 9, base.KindSet))
		trailer := [blockTrailerSize]byte{0}
		stored := append(bytes.Clone(block), trailer[:]...)
		crc := base.MaskedCRC(block, trailer[:1])
		stored[len(block)+1], stored[len(block)+2], stored[len(block)+3], stored[len(block)+4] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
		file := append(stored, make([]byte, FooterSize)...)
		r.f = nopCloser{bytes.NewReader(file)}
		r.size = int64(len(file))
		_, err := r.readRangeDels(BlockHandle{Offset: 0, Length: uint64(len(block))})
		require.ErrorIs(t, err, base.ErrCorruption, c.name)
	}
}

// A version 1 table (before range deletions; testdata/v1-snappy.sst holds
// keys k000#1 to k029#30, written by that version) still opens and reads:
// it has no range tombstones.
func TestReadsFormatVersion1(t *testing.T) {
	data, err := os.ReadFile("testdata/v1-snappy.sst")
	require.NoError(t, err)
	ft, err := decodeFooter(data[len(data)-FooterSize:])
	require.NoError(t, err)
	require.Equal(t, uint32(1), ft.version, "the fixture is a version 1 table")
	r, err := openBytes(t, data, ReaderOptions{})
	require.NoError(t, err)
	require.True(t, r.RangeDels().Empty())
	it := r.NewIter()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		require.Equal(t, fmt.Sprintf("k%03d", n), string(it.Key().UserKey))
		require.Equal(t, base.SeqNum(n+1), it.Key().SeqNum())
		n++
	}
	require.NoError(t, it.Close())
	require.Equal(t, 30, n)

	// A version from the future is refused, and not as corruption.
	future := bytes.Clone(data)
	ft.version = FormatVersion + 1
	copy(future[len(future)-FooterSize:], ft.encode())
	_, err = openBytes(t, future, ReaderOptions{})
	require.Error(t, err)
	require.NotErrorIs(t, err, base.ErrCorruption)
}
