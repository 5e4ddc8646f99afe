package sstable

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
)

type kv struct {
	key   base.InternalKey
	value []byte
}

// randomEntries returns n versions of about n/3 user keys, sorted in
// internal-key order, with tombstones.
func randomEntries(rng *rand.Rand, n int) []kv {
	seen := map[string]bool{}
	var out []kv
	for seq := base.SeqNum(1); len(out) < n; seq++ {
		uk := fmt.Sprintf("key-%06d", rng.IntN(n/3+1))
		kind := base.KindSet
		if rng.IntN(5) == 0 {
			kind = base.KindDelete
		}
		k := base.MakeInternalKey([]byte(uk), seq, kind)
		if seen[k.String()] {
			continue
		}
		seen[k.String()] = true
		var v []byte
		if kind == base.KindSet {
			v = []byte(fmt.Sprintf("value-%d-%s", seq, bytes.Repeat([]byte("x"), rng.IntN(200))))
		}
		out = append(out, kv{k, v})
	}
	slices.SortFunc(out, func(a, b kv) int { return base.InternalCompare(bytes.Compare, a.key, b.key) })
	return out
}

// writeTable writes entries to name in fs and returns the file's bytes.
func writeTable(t testing.TB, fs vfs.FS, name string, entries []kv, opts WriterOptions) (*Properties, []byte) {
	t.Helper()
	f, err := fs.Create(name)
	require.NoError(t, err)
	w := NewWriter(f, opts)
	for _, e := range entries {
		require.NoError(t, w.Add(e.key, e.value))
	}
	props, err := w.Finish()
	require.NoError(t, err)
	g, err := fs.Open(name)
	require.NoError(t, err)
	data, err := io.ReadAll(g)
	require.NoError(t, err)
	require.NoError(t, g.Close())
	require.Equal(t, uint64(len(data)), w.Size())
	return props, data
}

func openBytes(t testing.TB, data []byte, opts ReaderOptions) (*Reader, error) {
	t.Helper()
	return Open(nopCloser{bytes.NewReader(data)}, "test.sst", int64(len(data)), opts)
}

type nopCloser struct{ io.ReaderAt }

func (nopCloser) Close() error { return nil }

// Tables round-trip under every compression and several block sizes: Get
// returns the newest version at or below a sequence number, iterators visit
// every entry in both directions and seeks land where the sorted entries
// say, and the properties describe the table.
func TestTableRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	entries := randomEntries(rng, 3000)
	for _, c := range []Compression{NoCompression, SnappyCompression, ZstdCompression} {
		for _, bs := range []int{64, 4096, 64 << 10} {
			t.Run(fmt.Sprintf("%s/block=%d", c, bs), func(t *testing.T) {
				cache := NewCache(1 << 20)
				props, data := writeTable(t, vfs.NewMem(), "t.sst", entries,
					WriterOptions{BlockSize: bs, Compression: c, BloomBitsPerKey: 10})
				r, err := openBytes(t, data, ReaderOptions{Cache: cache, CacheID: cache.NewID(), FileNum: 1})
				require.NoError(t, err)
				checkTable(t, rng, r, entries)
				p := r.Properties()
				require.Equal(t, props.NumEntries, p.NumEntries)
				require.Equal(t, uint64(len(entries)), p.NumEntries)
				require.Equal(t, entries[0].key, p.Smallest())
				require.Equal(t, entries[len(entries)-1].key, p.Largest())
				require.Equal(t, c.String(), p.Compression)
				dels := 0
				for _, e := range entries {
					if e.key.Kind() == base.KindDelete {
						dels++
					}
				}
				require.Equal(t, uint64(dels), p.NumDeletions)
				require.Equal(t, uint64(1), p.SmallestSeq)
				require.Positive(t, p.NumDataBlocks)
			})
		}
	}
}

func checkTable(t *testing.T, rng *rand.Rand, r *Reader, entries []kv) {
	cmp := func(a, b base.InternalKey) int { return base.InternalCompare(bytes.Compare, a, b) }
	it := r.NewIter()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		require.Equal(t, entries[i].key, it.Key(), "entry %d", i)
		require.Equal(t, entries[i].value, nilIfEmpty(it.Value()), "entry %d", i)
		i++
	}
	require.NoError(t, it.Error())
	require.Equal(t, len(entries), i)
	for ok := it.Last(); ok; ok = it.Prev() {
		i--
		require.Equal(t, entries[i].key, it.Key(), "entry %d backwards", i)
	}
	require.Equal(t, 0, i)

	keys := make([]base.InternalKey, len(entries))
	for j := range entries {
		keys[j] = entries[j].key
	}
	for range 300 {
		target := base.MakeInternalKey([]byte(fmt.Sprintf("key-%06d", rng.IntN(1100))), base.SeqNum(rng.IntN(3100)), base.KindMax)
		ge, _ := slices.BinarySearchFunc(keys, target, cmp)
		require.Equal(t, ge < len(keys), it.SeekGE(target), "SeekGE %s", target)
		if ge < len(keys) {
			require.Equal(t, keys[ge], it.Key())
			if ge+1 < len(keys) {
				require.True(t, it.Next())
				require.Equal(t, keys[ge+1], it.Key())
				require.True(t, it.Prev())
				require.Equal(t, keys[ge], it.Key())
			}
		}
		require.Equal(t, ge > 0, it.SeekLT(target), "SeekLT %s", target)
		if ge > 0 {
			require.Equal(t, keys[ge-1], it.Key())
		}

		// Get answers with the first version at or below the sequence
		// number, if the user key matches.
		v, tr, found, err := r.Get(target.UserKey, target.SeqNum())
		require.NoError(t, err)
		want := -1
		if ge < len(keys) && bytes.Equal(keys[ge].UserKey, target.UserKey) {
			want = ge
		}
		require.Equal(t, want >= 0, found, "Get %s", target)
		if want >= 0 {
			require.Equal(t, keys[want].Trailer, tr)
			require.Equal(t, entries[want].value, nilIfEmpty(v))
		}
	}
	require.NoError(t, it.Close())
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// The writer refuses keys out of order and empty tables, and the reader
// refuses a table written with another comparer.
func TestWriterRefuses(t *testing.T) {
	fs := vfs.NewMem()
	f, err := fs.Create("a.sst")
	require.NoError(t, err)
	w := NewWriter(f, WriterOptions{})
	require.NoError(t, w.Add(base.MakeInternalKey([]byte("b"), 1, base.KindSet), nil))
	require.Error(t, w.Add(base.MakeInternalKey([]byte("a"), 2, base.KindSet), nil))
	require.Error(t, w.Add(base.MakeInternalKey([]byte("c"), 2, base.KindSet), nil), "an error stops the writer")
	_, err = w.Finish()
	require.Error(t, err)

	f, err = fs.Create("b.sst")
	require.NoError(t, err)
	w = NewWriter(f, WriterOptions{})
	require.NoError(t, w.Add(base.MakeInternalKey([]byte("a"), 2, base.KindSet), nil))
	require.Error(t, w.Add(base.MakeInternalKey([]byte("a"), 2, base.KindSet), nil), "duplicate internal key")

	f, err = fs.Create("c.sst")
	require.NoError(t, err)
	_, err = NewWriter(f, WriterOptions{}).Finish()
	require.Error(t, err)

	_, data := writeTable(t, fs, "d.sst", []kv{{base.MakeInternalKey([]byte("a"), 1, base.KindSet), []byte("v")}}, WriterOptions{})
	other := &base.Comparer{Name: "reverse", Compare: func(a, b []byte) int { return bytes.Compare(b, a) }}
	_, err = openBytes(t, data, ReaderOptions{Comparer: other})
	require.ErrorContains(t, err, "comparer")
	require.False(t, errors.Is(err, base.ErrCorruption))
}

// Flipping any single byte of a table is caught: Open fails with
// ErrCorruption, or a full scan and a Get of every key meet ErrCorruption
// from the block that holds the byte. No flip yields a wrong entry.
func TestEveryByteFlipIsCaught(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	entries := randomEntries(rng, 60)
	for _, c := range []Compression{NoCompression, SnappyCompression} {
		_, clean := writeTable(t, vfs.NewMem(), "t.sst", entries,
			WriterOptions{BlockSize: 256, Compression: c, BloomBitsPerKey: 10})
		for pos := range clean {
			data := bytes.Clone(clean)
			data[pos] ^= 1 << (pos % 8)
			r, err := openBytes(t, data, ReaderOptions{})
			if err != nil {
				require.ErrorIs(t, err, base.ErrCorruption, "flip at %d: %v", pos, err)
				var ce *base.CorruptionError
				require.True(t, errors.As(err, &ce))
				require.Equal(t, "test.sst", ce.File)
				continue
			}
			caught := false
			it := r.NewIter()
			i := 0
			for ok := it.First(); ok; ok = it.Next() {
				require.Equal(t, entries[i].key, it.Key(), "flip at %d returned a wrong key", pos)
				require.Equal(t, entries[i].value, nilIfEmpty(it.Value()), "flip at %d returned a wrong value", pos)
				i++
			}
			if err := it.Error(); err != nil {
				require.ErrorIs(t, err, base.ErrCorruption, "flip at %d", pos)
				caught = true
			}
			for _, e := range entries {
				v, tr, found, err := r.Get(e.key.UserKey, e.key.SeqNum())
				if err != nil {
					require.ErrorIs(t, err, base.ErrCorruption)
					caught = true
					continue
				}
				if found {
					require.Equal(t, e.key.Trailer, tr, "flip at %d", pos)
					require.Equal(t, e.value, nilIfEmpty(v), "flip at %d", pos)
				} else {
					// Only the filter can hide a key, and only if the
					// flip damaged it... which its checksum catches at Open.
					t.Fatalf("flip at %d: key %s not found", pos, e.key)
				}
			}
			require.True(t, caught, "flip at %d (of %d) went unnoticed", pos, len(clean))
		}
	}
}

// A table shorter than a footer, or with a bad magic, is corruption at a
// named offset.
func TestOpenGarbage(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("short"), bytes.Repeat([]byte{0}, 100), bytes.Repeat([]byte("x"), 4096)} {
		_, err := openBytes(t, data, ReaderOptions{})
		require.ErrorIs(t, err, base.ErrCorruption)
	}
}
