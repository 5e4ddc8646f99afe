package sstable

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
)

// countingFile counts the reads of a table's file.
type countingFile struct {
	io.ReaderAt
	reads *atomic.Int64
}

func (f countingFile) ReadAt(p []byte, off int64) (int, error) {
	f.reads.Add(1)
	return f.ReaderAt.ReadAt(p, off)
}

func (countingFile) Close() error { return nil }

// firstBlockOffsets maps each user key of entries to the offset of the data
// block holding its first (newest) version, found from the table's layout.
func firstBlockOffsets(t *testing.T, data []byte, entries []kv) map[string]uint64 {
	t.Helper()
	r, err := openBytes(t, data, ReaderOptions{})
	require.NoError(t, err)
	l, err := r.Layout()
	require.NoError(t, err)
	out := map[string]uint64{}
	i := 0
	for _, b := range l.Blocks {
		if b.Kind != "data" {
			continue
		}
		for range b.Entries {
			if _, ok := out[string(entries[i].key.UserKey)]; !ok {
				out[string(entries[i].key.UserKey)] = b.Handle.Offset
			}
			i++
		}
	}
	require.Equal(t, len(entries), i)
	return out
}

// EstimateOffset is the offset of the first block holding a version of the
// key: exact for every key of the table, 0 below the first key, the end of
// the data blocks above the last, and monotone between. IndexEntries lists
// the blocks between two offsets, and EstimateDiskUsage counts them with
// their share of the metadata: the whole range is the file size, and
// adjacent ranges add up. None of it reads the file after Open.
func TestEstimateOffset(t *testing.T) {
	for _, c := range []Compression{NoCompression, SnappyCompression, ZstdCompression} {
		t.Run(c.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(c)))
			entries := randomEntries(rng, 3000)
			props, data := writeTable(t, vfs.NewMem(), "e.sst", entries,
				WriterOptions{BlockSize: 512, Compression: c, BloomBitsPerKey: 10})
			require.Greater(t, props.NumDataBlocks, uint64(20))
			want := firstBlockOffsets(t, data, entries)

			var reads atomic.Int64
			r, err := Open(countingFile{bytes.NewReader(data), &reads}, "e.sst", int64(len(data)), ReaderOptions{})
			require.NoError(t, err)
			reads.Store(0)
			offset := func(k string) uint64 {
				off, err := r.EstimateOffset([]byte(k))
				require.NoError(t, err)
				return off
			}

			for k, off := range want {
				require.Equal(t, off, offset(k), "key %q", k)
			}
			require.Zero(t, offset(""))
			require.Zero(t, offset("a"))
			require.Zero(t, offset("key-"))
			largest := string(props.Largest().UserKey)
			for _, k := range []string{largest + "\x00", largest + "0", "key-999999", "l", "zzz"} {
				require.Equal(t, props.DataSize, offset(k), "key %q", k)
			}

			// Monotone, over present, absent and shortened keys.
			var probes []string
			for range 2000 {
				probes = append(probes, fmt.Sprintf("key-%0*d", 1+rng.IntN(6), rng.IntN(1100)))
			}
			slices.Sort(probes)
			var prev uint64
			for _, k := range probes {
				off := offset(k)
				require.GreaterOrEqual(t, off, prev, "key %q", k)
				require.LessOrEqual(t, off, props.DataSize)
				prev = off
			}

			// IndexEntries: every block, in order, separators ascending.
			var all []IndexEntry
			require.NoError(t, r.IndexEntries(nil, nil, func(e IndexEntry) {
				all = append(all, IndexEntry{Separator: bytes.Clone(e.Separator), Handle: e.Handle})
			}))
			require.Len(t, all, int(props.NumDataBlocks))
			var next uint64
			for i, e := range all {
				require.Equal(t, next, e.Handle.Offset)
				next += e.Size()
				if i > 0 {
					require.LessOrEqual(t, string(all[i-1].Separator), string(e.Separator))
				}
			}
			require.Equal(t, props.DataSize, next)

			size := uint64(len(data))
			usage := func(a, b []byte) uint64 {
				n, err := r.EstimateDiskUsage(a, b)
				require.NoError(t, err)
				return n
			}
			require.Equal(t, size, usage(nil, nil))
			require.Equal(t, size, usage([]byte{}, []byte{}), "empty bounds are unbounded")
			for range 200 {
				a, b := probes[rng.IntN(len(probes))], probes[rng.IntN(len(probes))]
				if a > b {
					a, b = b, a
				}
				var sum uint64
				require.NoError(t, r.IndexEntries([]byte(a), []byte(b), func(e IndexEntry) {
					require.GreaterOrEqual(t, string(e.Separator), a)
					sum += e.Size()
				}))
				require.Equal(t, offset(b)-offset(a), sum, "[%q, %q)", a, b)
				left, mid, right := usage(nil, []byte(a)), usage([]byte(a), []byte(b)), usage([]byte(b), nil)
				require.InDelta(t, float64(size), float64(left+mid+right), 2, "[%q, %q)", a, b)
			}
			require.Zero(t, usage([]byte("l"), nil))
			require.Zero(t, usage(nil, []byte("a")))
			require.Zero(t, reads.Load(), "estimates read the file")
		})
	}
}

// FuzzEstimate opens arbitrary bytes as a table and asks for estimates: the
// index's handles are only checked when used, so a damaged index must give
// a corruption error, never a panic or an answer beyond the file.
func FuzzEstimate(f *testing.F) {
	for _, s := range seedTables(f) {
		f.Add(s, []byte("k007"), []byte("k020"))
	}
	f.Fuzz(func(t *testing.T, data, a, b []byte) {
		r, err := openBytes(t, data, ReaderOptions{})
		if err != nil {
			return
		}
		check := func(err error) {
			if err != nil && !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("error is not corruption: %v", err)
			}
		}
		off, err := r.EstimateOffset(a)
		check(err)
		if off > uint64(len(data)) {
			t.Fatalf("offset %d past a file of %d bytes", off, len(data))
		}
		n, err := r.EstimateDiskUsage(a, b)
		check(err)
		if n > uint64(len(data)) {
			t.Fatalf("estimate %d above the file's %d bytes", n, len(data))
		}
		entries := 0
		check(r.IndexEntries(a, b, func(IndexEntry) { entries++ }))
		if entries > len(data) {
			t.Fatalf("%d index entries in %d bytes", entries, len(data))
		}
	})
}

// TestWriteEstimateFuzzSeeds rewrites testdata/fuzz/FuzzEstimate when
// DKV_WRITE_FUZZ_SEEDS is set.
func TestWriteEstimateFuzzSeeds(t *testing.T) {
	if os.Getenv("DKV_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set DKV_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzEstimate")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzEstimate")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i, s := range seedTables(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n[]byte(%q)\n", s, "k007", "k020")
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644))
	}
}
