package sstable

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

// testBlock returns a block of n bytes (n >= 24) whose bytes name
// (id, file, offset), so that a Get can check it got the right block.
func testBlock(id uint64, file base.FileNum, offset uint64, n int) []byte {
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b[0:], id)
	binary.LittleEndian.PutUint64(b[8:], uint64(file))
	binary.LittleEndian.PutUint64(b[16:], offset)
	return b
}

// setBlock caches a heap copy of data: the cache's accounting and LRU are
// tested on blocks of exact sizes.
func setBlock(c *Cache, id uint64, file base.FileNum, offset uint64, data []byte) {
	b := &blockBuf{data: data, mem: len(data)}
	b.refs.Store(1)
	c.set(id, file, offset, b)
	b.release()
}

// getBlock returns the data of the block cached under the name, releasing
// it (a heap block stays valid).
func getBlock(c *Cache, id uint64, file base.FileNum, offset uint64) ([]byte, bool) {
	b := c.get(id, file, offset)
	if b == nil {
		return nil, false
	}
	data := b.data
	b.release()
	return data, true
}

// blockNamed reports whether b was made by testBlock for the name.
func blockNamed(b []byte, id uint64, file base.FileNum, offset uint64) bool {
	return len(b) >= 24 &&
		binary.LittleEndian.Uint64(b[0:]) == id &&
		binary.LittleEndian.Uint64(b[8:]) == uint64(file) &&
		binary.LittleEndian.Uint64(b[16:]) == offset
}

// checkCache verifies every shard's invariants: the LRU list and the file
// lists hold exactly the mapped entries, each in the right shard; size is
// the sum of their charges and within capacity.
func checkCache(t testing.TB, c *Cache) {
	t.Helper()
	var total int64
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		var size int64
		n := 0
		for e := s.lru.next; e != &s.lru; e = e.next {
			require.Same(t, e, e.next.prev, "shard %d: broken LRU list", i)
			require.Same(t, e, s.blocks[e.key], "shard %d: listed entry not mapped", i)
			require.Same(t, s, c.shard(e.key), "shard %d holds another shard's key", i)
			require.Equal(t, int64(len(e.block.data))+entryOverhead, e.charge)
			size += e.charge
			n++
		}
		require.Equal(t, len(s.blocks), n, "shard %d: mapped entries not listed", i)
		require.Equal(t, size, s.size, "shard %d: size", i)
		require.LessOrEqual(t, s.size, s.capacity, "shard %d over capacity", i)
		inFiles := 0
		for fk, head := range s.files {
			e := head
			for {
				require.Equal(t, fk, fileKey{e.key.id, e.key.file})
				require.Same(t, e, s.blocks[e.key])
				require.Same(t, e, e.fnext.fprev)
				inFiles++
				if e = e.fnext; e == head {
					break
				}
			}
		}
		require.Equal(t, n, inFiles, "shard %d: file lists", i)
		total += s.capacity
		s.mu.Unlock()
	}
	require.LessOrEqual(t, total, c.capacity)
	require.LessOrEqual(t, c.Metrics().Size, c.Metrics().Capacity)
}

// A full shard evicts its least recently used block; Get and Set both count
// as a use.
func TestCacheLRU(t *testing.T) {
	const n = 100
	c := newCache(3*(n+entryOverhead), 1)
	has := func(offs ...uint64) {
		t.Helper()
		var got []uint64
		for off := uint64(1); off <= 6; off++ {
			c.shards[0].mu.Lock() // look without touching the LRU order
			_, ok := c.shards[0].blocks[cacheKey{1, 1, off}]
			c.shards[0].mu.Unlock()
			if ok {
				got = append(got, off)
			}
		}
		require.Equal(t, offs, got)
	}
	for off := uint64(1); off <= 3; off++ {
		setBlock(c, 1, 1, off, testBlock(1, 1, off, n))
	}
	has(1, 2, 3)
	_, ok := getBlock(c, 1, 1, 1)
	require.True(t, ok)
	setBlock(c, 1, 1, 4, testBlock(1, 1, 4, n)) // evicts 2, the least recently used
	has(1, 3, 4)
	setBlock(c, 1, 1, 3, testBlock(1, 1, 3, n)) // replacing is a use: order is 1, 4, 3
	setBlock(c, 1, 1, 5, testBlock(1, 1, 5, n))
	has(3, 4, 5)
	setBlock(c, 1, 1, 6, testBlock(1, 1, 6, 2*n)) // needs two slots: evicts 4 and 3
	has(5, 6)
	checkCache(t, c)
}

// After any sequence of Sets, Replaces and EvictFiles no shard is over its
// capacity, sizes add up, and every Get returns the last block set under its
// name or misses.
func TestCacheRandom(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(shards), 7))
			c := newCache(256<<10, shards)
			model := map[cacheKey]int{} // name -> size of the last block set
			for i := range 20_000 {
				k := cacheKey{id: 1 + r.Uint64N(2), file: base.FileNum(r.IntN(8)), offset: r.Uint64N(16) * 4096}
				switch op := r.IntN(100); {
				case op < 50:
					size := 24 + r.IntN(4<<10)
					if r.IntN(50) == 0 {
						size = 100 << 10 // larger than a shard of 4
					}
					setBlock(c, k.id, k.file, k.offset, testBlock(k.id, k.file, k.offset, size))
					model[k] = size
				case op < 99:
					b, ok := getBlock(c, k.id, k.file, k.offset)
					if ok {
						require.True(t, blockNamed(b, k.id, k.file, k.offset), "wrong block")
						require.Len(t, b, model[k], "Get returned an older block")
					}
				default:
					c.EvictFile(k.id, k.file)
				}
				if i%100 == 0 {
					checkCache(t, c)
				}
			}
			checkCache(t, c)
			m := c.Metrics()
			require.Positive(t, m.Count)
			require.Positive(t, m.Hits)
			require.Positive(t, m.Misses)
			t.Logf("%+v", m)
		})
	}
}

// Replacing a block charges the new size, not both.
func TestCacheReplace(t *testing.T) {
	c := newCache(10_000, 1)
	setBlock(c, 1, 1, 0, testBlock(1, 1, 0, 100))
	setBlock(c, 1, 1, 0, testBlock(1, 1, 0, 300))
	m := c.Metrics()
	require.Equal(t, int64(1), m.Count)
	require.Equal(t, int64(300+entryOverhead), m.Size)
	b, ok := getBlock(c, 1, 1, 0)
	require.True(t, ok)
	require.Len(t, b, 300)
	setBlock(c, 1, 1, 0, testBlock(1, 1, 0, 50))
	require.Equal(t, int64(50+entryOverhead), c.Metrics().Size)

	// A block too large for the shard is not cached, and the name's old
	// block goes too: Get never returns a block older than the last Set.
	setBlock(c, 1, 1, 0, make([]byte, 10_000))
	_, ok = getBlock(c, 1, 1, 0)
	require.False(t, ok)
	require.Equal(t, CacheMetrics{Hits: 1, Misses: 1, Capacity: 10_000}, c.Metrics())
	checkCache(t, c)
}

// A block just fitting a shard is cached, one byte more is not; shards get
// an equal share of the capacity.
func TestCacheOversize(t *testing.T) {
	c := newCache(4*1000, 4)
	setBlock(c, 1, 1, 0, make([]byte, 1000-entryOverhead))
	setBlock(c, 1, 1, 1, make([]byte, 1000-entryOverhead+1))
	_, ok := getBlock(c, 1, 1, 0)
	require.True(t, ok)
	_, ok = getBlock(c, 1, 1, 1)
	require.False(t, ok)
	require.Equal(t, int64(1), c.Metrics().Count)
}

// A shard fills to exactly its capacity and not a byte beyond.
func TestCacheExactFit(t *testing.T) {
	const charge = 100 + entryOverhead
	for capacity, count := range map[int64]int64{2 * charge: 2, 2*charge - 1: 1, 2*charge + 1: 2} {
		c := newCache(capacity, 1)
		for off := range uint64(3) {
			setBlock(c, 1, 1, off, make([]byte, 100))
		}
		require.Equal(t, count, c.Metrics().Count, "capacity %d", capacity)
		require.Equal(t, count*charge, c.Metrics().Size)
	}
}

// EvictFile drops the blocks of one file of one namespace, in every shard,
// and nothing else.
func TestCacheEvictFile(t *testing.T) {
	c := newCache(1<<20, 4)
	for id := uint64(1); id <= 2; id++ {
		for file := base.FileNum(1); file <= 3; file++ {
			for off := range uint64(20) {
				setBlock(c, id, file, off, testBlock(id, file, off, 100))
			}
		}
	}
	require.Equal(t, int64(120), c.Metrics().Count)
	c.EvictFile(1, 2)
	c.EvictFile(1, 9) // a file with no blocks
	checkCache(t, c)
	require.Equal(t, int64(100), c.Metrics().Count)
	for id := uint64(1); id <= 2; id++ {
		for file := base.FileNum(1); file <= 3; file++ {
			for off := range uint64(20) {
				b, ok := getBlock(c, id, file, off)
				require.Equal(t, id != 1 || file != 2, ok, "id %d file %d offset %d", id, file, off)
				if ok {
					require.True(t, blockNamed(b, id, file, off), "wrong block")
				}
			}
		}
	}
	// The file's blocks can be cached again.
	setBlock(c, 1, 2, 0, testBlock(1, 2, 0, 100))
	_, ok := getBlock(c, 1, 2, 0)
	require.True(t, ok)
	checkCache(t, c)
}

// Every Get counts one hit or one miss.
func TestCacheHitsMisses(t *testing.T) {
	c := newCache(1<<20, 2)
	_, ok := getBlock(c, 1, 1, 0)
	require.False(t, ok)
	setBlock(c, 1, 1, 0, []byte("block"))
	for range 3 {
		b, ok := getBlock(c, 1, 1, 0)
		require.True(t, ok)
		require.Equal(t, "block", string(b))
	}
	_, ok = getBlock(c, 2, 1, 0) // another namespace
	require.False(t, ok)
	m := c.Metrics()
	require.Equal(t, int64(3), m.Hits)
	require.Equal(t, int64(2), m.Misses)
	require.Equal(t, int64(1), m.Count)
	require.Equal(t, int64(5+entryOverhead), m.Size)
	require.Equal(t, int64(1<<20), m.Capacity)
}

// A cache of capacity 0 holds nothing, even empty blocks, and counts misses.
func TestCacheZeroCapacity(t *testing.T) {
	for _, capacity := range []int64{0, -1} {
		c := NewCache(capacity)
		require.Len(t, c.shards, 1)
		setBlock(c, 1, 1, 0, []byte("x"))
		setBlock(c, 1, 1, 1, nil)
		_, ok := getBlock(c, 1, 1, 0)
		require.False(t, ok)
		_, ok = getBlock(c, 1, 1, 1)
		require.False(t, ok)
		c.EvictFile(1, 1)
		require.Equal(t, CacheMetrics{Misses: 2}, c.Metrics())
	}
}

// NewCache shards by 4×GOMAXPROCS (a power of two), but gives no shard less
// than minShardCapacity unless there is only one.
func TestCacheShards(t *testing.T) {
	most := 1
	for most < 4*runtime.GOMAXPROCS(0) {
		most *= 2
	}
	for _, capacity := range []int64{0, 1, minShardCapacity, 3 * minShardCapacity, 1 << 30, 1 << 40} {
		n := len(NewCache(capacity).shards)
		require.Positive(t, n)
		require.Zero(t, n&(n-1), "%d shards", n)
		require.LessOrEqual(t, n, most)
		if n > 1 {
			require.GreaterOrEqual(t, capacity/int64(n), int64(minShardCapacity))
		}
	}
	require.Equal(t, most, len(NewCache(1<<40).shards))
	require.Panics(t, func() { newCache(1, 3) })
}

// NewID never repeats and never returns 0, also under concurrent calls.
func TestCacheNewID(t *testing.T) {
	c := NewCache(0)
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				id := c.NewID()
				mu.Lock()
				if seen[id] || id == 0 {
					t.Errorf("NewID returned %d again or 0", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, 400)
}

// Concurrent Gets, Sets, EvictFiles and Metrics from 8 goroutines (run with
// -race): every hit returns the block set under that name, every Get is
// counted once, and the shards' invariants hold afterwards.
func TestCacheConcurrent(t *testing.T) {
	c := newCache(512<<10, 4)
	ops := 4000
	if testing.Short() {
		ops = 500
	}
	var gets atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range ops {
				id, file, off := 1+r.Uint64N(2), base.FileNum(r.IntN(4)), r.Uint64N(32)
				switch op := r.IntN(100); {
				case op < 40:
					setBlock(c, id, file, off, testBlock(id, file, off, 24+r.IntN(8<<10)))
				case op < 97:
					gets.Add(1)
					if b, ok := getBlock(c, id, file, off); ok {
						require.True(t, blockNamed(b, id, file, off), "wrong block")
					}
				case op < 99:
					c.EvictFile(id, file)
				default:
					if m := c.Metrics(); m.Size > m.Capacity {
						t.Errorf("size %d over capacity %d", m.Size, m.Capacity)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	checkCache(t, c)
	m := c.Metrics()
	require.Equal(t, gets.Load(), m.Hits+m.Misses, "lost hit or miss counts")
	require.Positive(t, m.Hits)
}

// BenchmarkCacheGetParallel measures Gets that hit, from GOMAXPROCS
// goroutines: 8192 blocks of 4 KiB in a 64 MiB cache.
func BenchmarkCacheGetParallel(b *testing.B) {
	const blocks, size = 8192, 4 << 10
	c := NewCache(64 << 20)
	id := c.NewID()
	for i := range uint64(blocks) {
		setBlock(c, id, base.FileNum(i%64), i*size, make([]byte, size))
	}
	if got := c.Metrics().Count; got != blocks {
		b.Fatalf("cached %d of %d blocks", got, blocks)
	}
	var seed uint64
	var mu sync.Mutex
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		seed++
		r := rand.New(rand.NewPCG(seed, 0))
		mu.Unlock()
		for pb.Next() {
			i := r.Uint64N(blocks)
			if _, ok := getBlock(c, id, base.FileNum(i%64), i*size); !ok {
				panic("miss")
			}
		}
	})
}

// BenchmarkCacheSet measures Sets of 4 KiB blocks into a full cache, each
// evicting one block.
func BenchmarkCacheSet(b *testing.B) {
	c := NewCache(16 << 20)
	id := c.NewID()
	block := make([]byte, 4<<10)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		setBlock(c, id, base.FileNum(i%64), i*uint64(len(block)), block)
		i++
	}
}

// Close drops every block, and a block a reader holds outlives it until
// released: manual memory goes back exactly once.
func TestCacheCloseReleases(t *testing.T) {
	c := newCache(1<<20, 2)
	held := newBlockBuf(4000)
	c.set(1, 1, 0, held)
	for off := uint64(1); off < 10; off++ {
		b := newBlockBuf(4000)
		c.set(1, 1, off, b)
		b.release()
	}
	c.Close()
	require.Equal(t, int64(0), c.Metrics().Size)
	require.Equal(t, int32(1), held.refs.Load(), "the reader's reference")
	require.Len(t, held.data, 4000)
	held.release()
	require.Nil(t, held.data)
	_, ok := getBlock(c, 1, 1, 1)
	require.False(t, ok)
	setBlock(c, 1, 1, 1, []byte("still usable"))
	b, ok := getBlock(c, 1, 1, 1)
	require.True(t, ok)
	require.Equal(t, "still usable", string(b))
}
