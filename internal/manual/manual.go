package manual

import (
	"sync"
	"sync/atomic"
)

const (
	// classStep is the granularity of the size classes: a buffer of up to
	// MaxSmall bytes takes the next multiple of it. Blocks of a table are
	// a little over their target size (4 KiB by default), so classes as
	// coarse as powers of two would waste nearly half of the cache.
	classStep  = 512
	numClasses = MaxSmall / classStep

	// MaxSmall is the largest buffer a size class serves; larger ones are
	// mapped on their own.
	MaxSmall = 64 << 10

	// slabSize is the size of the mappings the classes carve buffers from:
	// a huge page, where the system offers them (mapSlab), so that filling
	// a cache or a memtable from fresh memory takes one page fault per
	// 2 MiB instead of one per 4 KiB.
	slabSize = 2 << 20

	// poison fills freed small buffers under the invariants tag.
	poison = 0xdb
)

// class is one size class: buffers of classSize(i) bytes.
type class struct {
	mu   sync.Mutex
	free [][]byte // full-length buffers ready for reuse
	slab []byte   // the rest of the newest slab, not handed out yet
}

var (
	classes [numClasses]class

	// Stats.
	inUse  atomic.Int64 // bytes handed out and not freed (capacity)
	mapped atomic.Int64 // bytes of mappings held
)

// Stats are counters of the allocator, for metrics.
type Stats struct {
	InUse  int64 // bytes of buffers handed out and not yet freed
	Mapped int64 // bytes mapped from the operating system (slabs and large buffers)
}

// ReadStats returns the allocator's counters.
func ReadStats() Stats { return Stats{InUse: inUse.Load(), Mapped: mapped.Load()} }

// classOf returns the size class of an n-byte buffer (0 < n <= MaxSmall).
func classOf(n int) int { return (n - 1) / classStep }

// classSize returns the size of the buffers of class ci.
func classSize(ci int) int { return (ci + 1) * classStep }

// New returns a buffer of length n (its capacity may be larger) outside the
// Go heap, which the caller must give back with Free exactly once and never
// touch afterwards. Its contents are undefined. n must be positive.
func New(n int) []byte {
	if n <= 0 {
		panic("manual: New of a non-positive size")
	}
	if !supported {
		return heap(n)
	}
	if n > MaxSmall {
		b := mmap(n)
		if b == nil {
			return heap(n)
		}
		mapped.Add(int64(cap(b)))
		inUse.Add(int64(cap(b)))
		return b[:n]
	}
	ci := classOf(n)
	size := classSize(ci)
	c := &classes[ci]
	c.mu.Lock()
	var b []byte
	if k := len(c.free); k > 0 {
		b = c.free[k-1]
		c.free[k-1] = nil
		c.free = c.free[:k-1]
	} else {
		if len(c.slab) < size {
			slab := mapSlab()
			if slab == nil {
				c.mu.Unlock()
				return heap(n)
			}
			mapped.Add(slabSize)
			c.slab = slab
		}
		b = c.slab[:size:size]
		c.slab = c.slab[size:]
	}
	c.mu.Unlock()
	inUse.Add(int64(size))
	return b[:n]
}

// heap returns an n-byte buffer from the Go heap, for when no mapping can be
// had. Its capacity is odd, which no mapped buffer's is (they are whole
// pages, or a multiple of classStep), so that Free can tell it apart and
// leave it to the collector.
func heap(n int) []byte { return make([]byte, n, n|1) }

// Free gives back a buffer New returned, or a reslice of it from its start
// (b[:m]: Free goes by the capacity). Nothing may use b afterwards.
func Free(b []byte) {
	if cap(b) == 0 {
		return
	}
	if cap(b)%2 == 1 {
		return // from the Go heap (heap): the collector owns it
	}
	b = b[:cap(b)]
	if len(b) > MaxSmall {
		inUse.Add(-int64(len(b)))
		mapped.Add(-int64(len(b)))
		munmap(b)
		return
	}
	ci := classOf(len(b))
	if len(b) != classSize(ci) {
		panic("manual: Free of a buffer New did not return")
	}
	if poisonFreed {
		for i := range b {
			b[i] = poison
		}
	}
	inUse.Add(-int64(len(b)))
	c := &classes[ci]
	c.mu.Lock()
	c.free = append(c.free, b)
	c.mu.Unlock()
}
