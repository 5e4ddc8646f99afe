package sstable

import (
	"sync/atomic"

	"github.com/distributedkv/dkv/internal/manual"
)

// blockBuf is a decoded data block in memory outside the Go heap
// (internal/manual), shared by the block cache and the readers using it
// and reference-counted: whoever holds a *blockBuf holds one reference,
// and the last release frees the memory for the next block. An iterator
// holds the block it is positioned in; a Get holds the block it searches
// until it has copied the value out; the cache holds each block it keeps.
//
// Why not leave blocks to the garbage collector: a read-heavy workload
// that misses the cache allocates a block per miss — gigabytes over a run,
// each collection has to find them, and the heap goal doubles what the
// cache holds. Recycled manual blocks cost none of that.
type blockBuf struct {
	data   []byte
	mem    int  // bytes of memory it takes
	manual bool // data is from internal/manual (else the collector frees it)
	refs   atomic.Int32
}

// newBlockBuf returns a block of n bytes (contents undefined) with one
// reference, the caller's.
func newBlockBuf(n int) *blockBuf {
	data := manual.New(max(n, 1))
	b := &blockBuf{data: data[:n], mem: cap(data), manual: true}
	b.refs.Store(1)
	return b
}

// ref adds a reference.
func (b *blockBuf) ref() {
	if b.refs.Add(1) <= 1 {
		panic("sstable: ref of a released block")
	}
}

// release drops a reference; the last one frees the block's memory, which
// nothing may touch afterwards.
func (b *blockBuf) release() {
	switch n := b.refs.Add(-1); {
	case n == 0:
		if b.manual {
			manual.Free(b.data)
		}
		b.data = nil
	case n < 0:
		panic("sstable: release of a released block")
	}
}

// charge is what the block costs the cache: its memory, not just its
// length (the allocator rounds up to its size classes).
func (b *blockBuf) charge() int64 { return int64(b.mem) + entryOverhead }
