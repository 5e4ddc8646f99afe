package sstable

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/distributedkv/dkv/internal/base"
)

// Cache holds decoded (checked and decompressed) table blocks in memory,
// bounded in bytes, shared by all tables of one or more DBs. A block is named
// by (id, file, offset): id is a namespace from NewID (one per DB, so that
// two DBs' file numbers do not collide), file the table's number, offset the
// block's offset in the file.
//
// The cache is split into shards, each with its own lock and its own
// least-recently-used list, so that concurrent readers rarely wait for one
// another. Each shard holds an equal share of the capacity and evicts its
// least recently used blocks to stay within it; so the cache as a whole
// never holds more than its capacity, though it may evict a little before
// it is full when blocks spread unevenly over the shards.
//
// Each block is charged the memory it takes (its length rounded up to the
// allocator's size class) plus a fixed per-entry overhead (entryOverhead)
// for the cache's own bookkeeping. Blocks live outside the Go heap and are
// reference-counted (blockBuf): the cache holds a reference to each block
// it keeps, and a reader holds one to each block it uses, so a block
// evicted while a reader uses it is freed when that reader lets go.
//
// All methods are safe for concurrent use. A Cache must be made with
// NewCache. It holds no resources besides memory and needs no closing.
type Cache struct {
	shards   []cacheShard
	mask     uint64 // len(shards)-1; len(shards) is a power of two
	capacity int64
	nextID   atomic.Uint64
}

// CacheMetrics is a snapshot of a Cache's counters. The fields are summed
// over the shards one shard at a time, so under concurrent use they need not
// describe one instant.
type CacheMetrics struct {
	Hits     int64 // Gets that found their block
	Misses   int64 // Gets that did not
	Size     int64 // bytes charged for the blocks held, overhead included
	Count    int64 // blocks held
	Capacity int64 // the capacity the cache was made with; Size never exceeds it
}

const (
	// entryOverhead is what each block is charged beyond len(block): an
	// estimate of the memory the cache spends to hold it, which is a
	// cacheEntry (88 bytes, in a 96-byte allocation) and its slot in the
	// shard's map (about 40 bytes).
	entryOverhead = 136

	// minShardCapacity is the smallest capacity NewCache gives a shard,
	// when that means fewer shards than it would otherwise use: with small
	// shards, a few large blocks would evict all the rest of their shard.
	// (RocksDB's LRU cache uses the same floor.)
	minShardCapacity = 512 << 10
)

// NewCache returns an empty cache that holds at most capacity bytes (see
// Cache for what a block is charged). A capacity of 0 (or less) makes a
// cache that holds nothing but still counts misses.
//
// The number of shards is 4×GOMAXPROCS rounded up to a power of two, halved
// while a shard would get less than 512 KiB, and at least 1.
func NewCache(capacity int64) *Cache {
	capacity = max(capacity, 0)
	n := 1
	for n < 4*runtime.GOMAXPROCS(0) {
		n *= 2
	}
	for n > 1 && capacity/int64(n) < minShardCapacity {
		n /= 2
	}
	return newCache(capacity, n)
}

// newCache returns a cache of capacity bytes split into shards shards, which
// must be a power of two.
func newCache(capacity int64, shards int) *Cache {
	if shards < 1 || shards&(shards-1) != 0 {
		panic("sstable: cache shard count is not a power of two")
	}
	c := &Cache{
		shards:   make([]cacheShard, shards),
		mask:     uint64(shards - 1),
		capacity: capacity,
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.blocks = make(map[cacheKey]*cacheEntry)
		s.files = make(map[fileKey]*cacheEntry)
		s.lru.prev, s.lru.next = &s.lru, &s.lru
		s.capacity = capacity / int64(shards)
	}
	return c
}

// NewID returns a namespace id that no earlier call on c returned, and never
// 0. Each DB (or other owner of file numbers) sharing c takes one and names
// its blocks with it.
func (c *Cache) NewID() uint64 { return c.nextID.Add(1) }

// get returns the block cached under (id, file, offset) with a reference
// for the caller, who must release it, or nil; it counts a hit or a miss.
// The block is shared with the cache and other readers: nobody modifies
// it.
func (c *Cache) get(id uint64, file FileNum, offset uint64) *blockBuf {
	k := cacheKey{id: id, file: file, offset: offset}
	return c.shard(k).get(k)
}

// set caches block under (id, file, offset), taking a reference of its
// own (the caller keeps its own), replacing any block cached under that
// name, and evicts least recently used blocks of its shard as needed to
// stay within the shard's capacity. A block whose charge exceeds a
// shard's capacity is not cached (and the name's old block, if any, is
// dropped). Nobody may modify block after set.
func (c *Cache) set(id uint64, file FileNum, offset uint64, block *blockBuf) {
	k := cacheKey{id: id, file: file, offset: offset}
	c.shard(k).set(k, block)
}

// EvictFile drops every block of file in namespace id, and no other. It is
// called when a table is deleted, so that its blocks do not occupy the cache
// until they age out. It takes each shard's lock in turn, and costs time in
// proportion to the number of shards plus the blocks dropped.
func (c *Cache) EvictFile(id uint64, file FileNum) {
	fk := fileKey{id: id, file: file}
	for i := range c.shards {
		c.shards[i].evictFile(fk)
	}
}

// Close drops every block (each is freed once the readers still using it
// let go). The owner of a cache calls it when done with it: the blocks'
// memory is outside the Go heap, and a cache dropped without Close keeps
// it. The cache stays usable, empty.
func (c *Cache) Close() {
	for i := range c.shards {
		s := &c.shards[i]
		var dropped []*blockBuf
		s.mu.Lock()
		for e := s.lru.next; e != &s.lru; e = s.lru.next {
			dropped = append(dropped, s.remove(e))
		}
		s.mu.Unlock()
		for _, b := range dropped {
			b.release()
		}
	}
}

// Metrics returns the cache's counters (see CacheMetrics).
func (c *Cache) Metrics() CacheMetrics {
	m := CacheMetrics{Capacity: c.capacity}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		m.Hits += s.hits
		m.Misses += s.misses
		m.Size += s.size
		m.Count += int64(len(s.blocks))
		s.mu.Unlock()
	}
	return m
}

// shard returns the shard that holds k.
func (c *Cache) shard(k cacheKey) *cacheShard {
	return &c.shards[k.hash()&c.mask]
}

// cacheKey names one block.
type cacheKey struct {
	id     uint64
	file   base.FileNum
	offset uint64
}

// hash mixes all of k's fields, so that the blocks of one file spread over
// all shards.
func (k cacheKey) hash() uint64 {
	h := k.id*0x9e3779b97f4a7c15 ^ uint64(k.file)*0xc2b2ae3d27d4eb4f ^ k.offset
	// MurmurHash3's 64-bit finalizer.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// fileKey names one file of one namespace.
type fileKey struct {
	id   uint64
	file base.FileNum
}

// cacheEntry is one cached block. It sits on two circular doubly linked
// lists of its shard: the LRU list, and the list of the shard's blocks of the
// same file (for EvictFile). Entries are only touched under the shard's lock
// and never leave the cache, so an evicted entry may be reused for the next
// block set in its shard.
type cacheEntry struct {
	key          cacheKey
	block        *blockBuf // the cache's reference
	charge       int64     // block.charge()
	prev, next   *cacheEntry
	fprev, fnext *cacheEntry
}

// cacheShard is one independently locked part of a Cache.
type cacheShard struct {
	mu       sync.Mutex
	blocks   map[cacheKey]*cacheEntry
	files    map[fileKey]*cacheEntry // one entry of each file's list
	lru      cacheEntry              // sentinel: lru.next is the most recently used
	size     int64                   // sum of the entries' charges; <= capacity
	capacity int64
	hits     int64
	misses   int64
	// Keep neighbouring shards' locks and counters on different cache
	// lines.
	_ [64]byte
}

// get looks k up, counts a hit or a miss and, on a hit, marks the block most
// recently used and returns it with a reference for the caller.
func (s *cacheShard) get(k cacheKey) *blockBuf {
	s.mu.Lock()
	e := s.blocks[k]
	if e == nil {
		s.misses++
		s.mu.Unlock()
		return nil
	}
	s.hits++
	if s.lru.next != e {
		e.unlinkLRU()
		s.pushFront(e)
	}
	block := e.block
	block.ref()
	s.mu.Unlock()
	return block
}

// set caches block under k as the most recently used block, evicting from
// the back of the LRU list to make room. Oversized blocks are not cached.
// The blocks it drops are released after the shard's lock is let go.
func (s *cacheShard) set(k cacheKey, block *blockBuf) {
	charge := block.charge()
	var dropped []*blockBuf
	s.mu.Lock()
	var spare *cacheEntry
	if e := s.blocks[k]; e != nil {
		dropped = append(dropped, s.remove(e))
		spare = e
	}
	if charge <= s.capacity {
		for s.size+charge > s.capacity {
			e := s.lru.prev
			dropped = append(dropped, s.remove(e))
			spare = e
		}
		e := spare
		if e == nil {
			e = new(cacheEntry)
		}
		block.ref()
		*e = cacheEntry{key: k, block: block, charge: charge}
		s.insert(e)
	}
	s.mu.Unlock()
	for _, b := range dropped {
		b.release()
	}
}

// evictFile removes every entry of file fk.
func (s *cacheShard) evictFile(fk fileKey) {
	var dropped []*blockBuf
	s.mu.Lock()
	for {
		e := s.files[fk]
		if e == nil {
			break
		}
		dropped = append(dropped, s.remove(e))
	}
	s.mu.Unlock()
	for _, b := range dropped {
		b.release()
	}
}

// insert adds e, which is on no list, as the most recently used entry. The
// caller holds s.mu and has made room for e.charge.
func (s *cacheShard) insert(e *cacheEntry) {
	s.blocks[e.key] = e
	s.pushFront(e)
	fk := fileKey{id: e.key.id, file: e.key.file}
	if head := s.files[fk]; head != nil {
		e.fprev, e.fnext = head, head.fnext
		head.fnext.fprev = e
		head.fnext = e
	} else {
		e.fprev, e.fnext = e, e
		s.files[fk] = e
	}
	s.size += e.charge
}

// remove takes e off both lists and out of the maps, and returns its block,
// whose reference the caller must release (after letting go of s.mu).
// The caller holds s.mu.
func (s *cacheShard) remove(e *cacheEntry) *blockBuf {
	delete(s.blocks, e.key)
	e.unlinkLRU()
	fk := fileKey{id: e.key.id, file: e.key.file}
	if e.fnext == e {
		delete(s.files, fk)
	} else {
		e.fprev.fnext = e.fnext
		e.fnext.fprev = e.fprev
		if s.files[fk] == e {
			s.files[fk] = e.fnext
		}
	}
	e.fprev, e.fnext = nil, nil
	b := e.block
	e.block = nil
	s.size -= e.charge
	return b
}

// pushFront links e, which is on no LRU list, at the front of s's. The
// caller holds s.mu.
func (s *cacheShard) pushFront(e *cacheEntry) {
	e.prev, e.next = &s.lru, s.lru.next
	s.lru.next.prev = e
	s.lru.next = e
}

// unlinkLRU takes e off its LRU list. The caller holds the shard's lock.
func (e *cacheEntry) unlinkLRU() {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}
