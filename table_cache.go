package dkv

import (
	"bytes"
	"container/list"
	"fmt"
	"sync"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/sstable"
	"github.com/distributedkv/dkv/vfs"
)

// tableCache keeps up to capacity tables open, least recently used first
// out. A table in use is reference-counted: evicting it only closes its file
// once the last user releases it, so a reader never sees a file closed under
// it. Opening happens outside the lock, and concurrent requests for the same
// table share one open.
type tableCache struct {
	fs       vfs.FS
	dir      string
	opts     sstable.ReaderOptions // Cache, CacheID, Comparer; FileNum per table
	capacity int

	mu    sync.Mutex
	lru   *list.List // of *tableEntry, most recently used at the front
	byNum map[base.FileNum]*tableEntry

	hits, misses int64 // guarded by mu
	closed       bool  // after close, get refuses: nothing would close what it opened
}

type tableEntry struct {
	num    base.FileNum
	elem   *list.Element // nil once evicted
	refs   int           // users, plus one while cached
	ready  chan struct{} // closed when the open finished
	reader *sstable.Reader
	err    error
}

func newTableCache(fs vfs.FS, dir string, capacity int, opts sstable.ReaderOptions) *tableCache {
	return &tableCache{fs: fs, dir: dir, opts: opts, capacity: capacity, lru: list.New(), byNum: map[base.FileNum]*tableEntry{}}
}

// get returns the open table f and a release function the caller must call
// when done with it (and with every value it returned).
func (c *tableCache) get(f *manifest.FileMetadata) (*sstable.Reader, func(), error) {
	e, err := c.acquire(f)
	if err != nil {
		return nil, nil, err
	}
	return e.reader, func() { c.release(e) }, nil
}

// acquire is get without the closure: the caller gives the entry back with
// c.release(e).
func (c *tableCache) acquire(f *manifest.FileMetadata) (*tableEntry, error) {
	num := f.FileNum
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	e, ok := c.byNum[num]
	if ok {
		c.hits++
		c.lru.MoveToFront(e.elem)
		e.refs++
		c.mu.Unlock()
		<-e.ready
	} else {
		c.misses++
		e = &tableEntry{num: num, refs: 2, ready: make(chan struct{})}
		e.elem = c.lru.PushFront(e)
		c.byNum[num] = e
		c.evictLocked()
		c.mu.Unlock()
		e.reader, e.err = c.open(f)
		close(e.ready)
	}
	if e.err != nil {
		c.mu.Lock()
		c.dropLocked(e) // a failed open is not cached: the next get retries
		c.mu.Unlock()
		c.release(e)
		return nil, e.err
	}
	return e, nil
}

// open opens table m and checks it is the table the MANIFEST describes:
// its size, key range and sequence numbers. Blocks carry checksums but not
// their table's number, so without this a table file replaced by another
// intact table would be read as data.
func (c *tableCache) open(m *manifest.FileMetadata) (*sstable.Reader, error) {
	path := c.fs.PathJoin(c.dir, base.MakeFilename(base.FileTypeTable, m.FileNum))
	f, err := c.fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dkv: open table: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("dkv: stat table: %w", err)
	}
	if uint64(st.Size()) != m.Size {
		_ = f.Close()
		return nil, base.CorruptionErrorf(path, -1, "the table is %d bytes, the MANIFEST says %d", st.Size(), m.Size)
	}
	opts := c.opts
	opts.FileNum = m.FileNum
	r, err := sstable.Open(f, path, st.Size(), opts)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	p := r.Properties()
	same := func(a, b base.InternalKey) bool { return a.Trailer == b.Trailer && bytes.Equal(a.UserKey, b.UserKey) }
	if !same(p.Smallest(), m.Smallest) || !same(p.Largest(), m.Largest) ||
		base.SeqNum(p.SmallestSeq) != m.SmallestSeq || base.SeqNum(p.LargestSeq) != m.LargestSeq ||
		(p.NumRangeDeletions > 0) != m.HasRangeDels {
		_ = r.Close()
		return nil, base.CorruptionErrorf(path, -1, "the table holds %s-%s, seqs %d-%d, %d range tombstones; the MANIFEST says %s-%s, seqs %d-%d, range tombstones %v",
			p.Smallest(), p.Largest(), p.SmallestSeq, p.LargestSeq, p.NumRangeDeletions, m.Smallest, m.Largest, m.SmallestSeq, m.LargestSeq, m.HasRangeDels)
	}
	return r, nil
}

// evictLocked drops least recently used tables beyond capacity.
func (c *tableCache) evictLocked() {
	for c.lru.Len() > c.capacity {
		c.dropLocked(c.lru.Back().Value.(*tableEntry))
	}
}

// dropLocked removes e from the cache; its file closes with its last user.
func (c *tableCache) dropLocked(e *tableEntry) {
	if e.elem == nil {
		return
	}
	c.lru.Remove(e.elem)
	e.elem = nil
	if c.byNum[e.num] == e {
		delete(c.byNum, e.num)
	}
	c.releaseLocked(e)
}

func (c *tableCache) release(e *tableEntry) {
	c.mu.Lock()
	c.releaseLocked(e)
	c.mu.Unlock()
}

func (c *tableCache) releaseLocked(e *tableEntry) {
	e.refs--
	if e.refs == 0 && e.reader != nil {
		_ = e.reader.Close()
	}
}

// evict drops table num from the cache (it is being deleted).
func (c *tableCache) evict(num base.FileNum) {
	c.mu.Lock()
	if e, ok := c.byNum[num]; ok {
		c.dropLocked(e)
	}
	c.mu.Unlock()
	if c.opts.Cache != nil {
		c.opts.Cache.EvictFile(c.opts.CacheID, num)
	}
}

// close drops every table; files in use close with their last user.
func (c *tableCache) close() {
	c.mu.Lock()
	c.closed = true
	for c.lru.Len() > 0 {
		c.dropLocked(c.lru.Back().Value.(*tableEntry))
	}
	c.mu.Unlock()
}

// stats returns the open-table count and the hit and miss counters.
func (c *tableCache) stats() (open int, hits, misses int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.hits, c.misses
}
