package sstable

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
)

// A scan reads the table's blocks in order with a few large reads, not
// one read per block; a scan backward, which reads nothing ahead, sees
// every entry too.
func TestReadaheadSharesReads(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	entries := randomEntries(rng, 5000)
	props, data := writeTable(t, vfs.NewMem(), "t.sst", entries, WriterOptions{Compression: SnappyCompression})
	require.Greater(t, props.NumDataBlocks, uint64(50))
	f := countingFile{ReaderAt: bytes.NewReader(data), reads: new(atomic.Int64)}
	r, err := Open(f, "t.sst", int64(len(data)), ReaderOptions{}) // no cache: every block from the file
	require.NoError(t, err)
	defer r.Close()

	start := f.reads.Load()
	it := r.NewIter()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		require.Equal(t, entries[n].key, it.Key())
		n++
	}
	require.NoError(t, it.Error())
	require.Equal(t, len(entries), n)
	reads := f.reads.Load() - start
	t.Logf("%d data blocks, %d reads forward", props.NumDataBlocks, reads)
	require.Less(t, reads, int64(props.NumDataBlocks)/4)

	start = f.reads.Load()
	n = len(entries)
	for ok := it.Last(); ok; ok = it.Prev() {
		n--
		require.Equal(t, entries[n].key, it.Key())
	}
	require.NoError(t, it.Error())
	require.Zero(t, n)
	t.Logf("%d reads backward (the tail still in the buffer of the forward scan)", f.reads.Load()-start)
}

// A damaged block is reported at its own offset whether it was read alone
// or ahead with its neighbours, after every entry before it was returned.
func TestReadaheadReportsCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	entries := randomEntries(rng, 5000)
	_, data := writeTable(t, vfs.NewMem(), "t.sst", entries, WriterOptions{Compression: SnappyCompression})
	r, err := openBytes(t, data, ReaderOptions{})
	require.NoError(t, err)
	l, err := r.Layout()
	require.NoError(t, err)
	var blocks []uint64
	for _, b := range l.Blocks {
		if b.Kind == "data" {
			blocks = append(blocks, b.Handle.Offset)
		}
	}
	require.NoError(t, r.Close())
	victim := blocks[len(blocks)/2] // deep into the scan: read ahead
	bad := bytes.Clone(data)
	bad[victim+3] ^= 0xff
	r, err = openBytes(t, bad, ReaderOptions{})
	require.NoError(t, err)
	defer r.Close()
	it := r.NewIter()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		require.Equal(t, entries[n].key, it.Key())
		n++
	}
	var ce *base.CorruptionError
	require.True(t, errors.As(it.Error(), &ce), "%v", it.Error())
	require.Equal(t, int64(victim), ce.Offset)
	require.Greater(t, n, 0)
	require.Less(t, n, len(entries))
}
