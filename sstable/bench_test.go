package sstable

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
)

// Benchmarks of the table format with db_bench's shapes: 16-byte keys,
// 100-byte values that compress to about half. Compare runs with benchstat.

const benchEntries = 100_000

func benchKey(i uint64) []byte {
	k := make([]byte, 0, 16)
	k = append(k, "key:"...)
	k = binary.BigEndian.AppendUint64(k, i)
	return append(k, "...."...)
}

// benchValue is 100 bytes: 50 random letters, then 50 repeated ones.
func benchValue(rng *rand.Rand) []byte {
	v := make([]byte, 100)
	for i := range 50 {
		v[i] = byte('a' + rng.IntN(26))
	}
	for i := 50; i < 100; i++ {
		v[i] = 'x'
	}
	return v
}

// writeBenchTable writes benchEntries entries (even keys only, so that odd
// keys are absent) to path in fs.
func writeBenchTable(b *testing.B, fs vfs.FS, path string, c Compression, bloom int) *Properties {
	b.Helper()
	f, err := fs.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	w := NewWriter(f, WriterOptions{Compression: c, BloomBitsPerKey: bloom})
	for i := range uint64(benchEntries) {
		if err := w.Add(base.MakeInternalKey(benchKey(2*i), base.SeqNum(i+1), base.KindSet), benchValue(rng)); err != nil {
			b.Fatal(err)
		}
	}
	props, err := w.Finish()
	if err != nil {
		b.Fatal(err)
	}
	return props
}

func openBenchTable(b *testing.B, fs vfs.FS, path string, cache *Cache) *Reader {
	b.Helper()
	f, err := fs.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	st, _ := f.Stat()
	opts := ReaderOptions{Cache: cache}
	if cache != nil {
		opts.CacheID = cache.NewID()
	}
	r, err := Open(f, path, st.Size(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	return r
}

// BenchmarkWriter measures table write throughput per compression (an op is
// one entry; MB/s counts keys and values). It also reports the stored
// bytes per entry: the size of the bench's half-compressible values under
// each compression.
func BenchmarkWriter(b *testing.B) {
	for _, c := range []Compression{NoCompression, SnappyCompression, ZstdCompression} {
		b.Run(c.String(), func(b *testing.B) {
			fs := vfs.NewMem()
			rng := rand.New(rand.NewPCG(1, 2))
			vals := make([][]byte, 1024)
			for i := range vals {
				vals[i] = benchValue(rng)
			}
			b.SetBytes(16 + 8 + 100)
			b.ResetTimer()
			var stored, entries uint64
			for n := 0; n < b.N; {
				f, _ := fs.Create("t.sst")
				w := NewWriter(f, WriterOptions{Compression: c, BloomBitsPerKey: 10})
				for i := 0; i < benchEntries && n < b.N; i, n = i+1, n+1 {
					if err := w.Add(base.MakeInternalKey(benchKey(uint64(i)), 1, base.KindSet), vals[i%len(vals)]); err != nil {
						b.Fatal(err)
					}
				}
				props, err := w.Finish()
				if err != nil {
					b.Fatal(err)
				}
				stored += w.Size()
				entries += props.NumEntries
			}
			b.ReportMetric(float64(stored)/float64(entries), "stored-B/entry")
		})
	}
}

// BenchmarkGet measures point lookups of present keys: from the block
// cache (every block cached), and without a cache (each lookup reads and
// decompresses its block from an OS file, in the page cache).
func BenchmarkGet(b *testing.B) {
	for _, c := range []Compression{NoCompression, SnappyCompression, ZstdCompression} {
		for _, cached := range []bool{true, false} {
			name := fmt.Sprintf("%s/cache=%v", c, cached)
			b.Run(name, func(b *testing.B) {
				fs := vfs.Default
				path := b.TempDir() + "/t.sst"
				writeBenchTable(b, fs, path, c, 10)
				var cache *Cache
				if cached {
					cache = NewCache(64 << 20)
				}
				r := openBenchTable(b, fs, path, cache)
				rng := rand.New(rand.NewPCG(3, 4))
				if cached {
					for i := range uint64(benchEntries) {
						_, _, _, _ = r.Get(benchKey(2*i), base.SeqNumMax)
					}
				}
				b.ResetTimer()
				for range b.N {
					_, _, ok, err := r.Get(benchKey(2*rng.Uint64N(benchEntries)), base.SeqNumMax)
					if !ok || err != nil {
						b.Fatal("missing key", err)
					}
				}
			})
		}
	}
}

// BenchmarkGetAbsent measures lookups of absent keys, which the bloom filter
// answers without touching a data block; "nobloom" reads the block.
func BenchmarkGetAbsent(b *testing.B) {
	for _, bloom := range []int{10, 0} {
		b.Run(fmt.Sprintf("bloom=%d", bloom), func(b *testing.B) {
			fs := vfs.NewMem()
			writeBenchTable(b, fs, "t.sst", SnappyCompression, bloom)
			r := openBenchTable(b, fs, "t.sst", NewCache(64<<20))
			rng := rand.New(rand.NewPCG(3, 4))
			b.ResetTimer()
			hits := 0
			for range b.N {
				if _, _, ok, _ := r.Get(benchKey(2*rng.Uint64N(benchEntries)+1), base.SeqNumMax); ok {
					hits++
				}
			}
			if hits > 0 {
				b.Fatal("found an absent key")
			}
		})
	}
}

// BenchmarkBlockSize compares data block sizes under Snappy: point lookups
// from the cache and from the OS, and the stored bytes per entry (bigger
// blocks compress better and make smaller indexes, but every uncached
// lookup reads and decompresses a whole block).
func BenchmarkBlockSize(b *testing.B) {
	for _, bs := range []int{2 << 10, 4 << 10, 16 << 10, 32 << 10} {
		for _, cached := range []bool{true, false} {
			b.Run(fmt.Sprintf("block=%dK/cache=%v", bs>>10, cached), func(b *testing.B) {
				fs := vfs.Default
				path := b.TempDir() + "/t.sst"
				f, err := fs.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(1, 2))
				w := NewWriter(f, WriterOptions{Compression: SnappyCompression, BloomBitsPerKey: 10, BlockSize: bs})
				for i := range uint64(benchEntries) {
					if err := w.Add(base.MakeInternalKey(benchKey(2*i), base.SeqNum(i+1), base.KindSet), benchValue(rng)); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Finish(); err != nil {
					b.Fatal(err)
				}
				var cache *Cache
				if cached {
					cache = NewCache(64 << 20)
				}
				r := openBenchTable(b, fs, path, cache)
				b.ResetTimer()
				for range b.N {
					if _, _, ok, err := r.Get(benchKey(2*rng.Uint64N(benchEntries)), base.SeqNumMax); !ok || err != nil {
						b.Fatal("missing key", err)
					}
				}
				b.ReportMetric(float64(w.Size())/benchEntries, "stored-B/entry")
			})
		}
	}
}
