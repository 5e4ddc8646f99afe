package sstable

import (
	"encoding/binary"
	"sync"

	"github.com/distributedkv/dkv/internal/base"
)

// appendTrailer appends the 8-byte little-endian trailer of an encoded
// internal key.
func appendTrailer(dst []byte, t base.Trailer) []byte {
	return binary.LittleEndian.AppendUint64(dst, uint64(t))
}

// Iterator walks a table's entries in internal-key order, in both
// directions. It reads data blocks through the Reader (and its cache) as it
// crosses them, holding the block it is in. Key and Value are valid until
// the next move or Close (the block may be freed once the iterator leaves
// it). Close releases the block: an Iterator must be closed, or its block's
// memory, which is outside the Go heap, is never reused. An Iterator is not
// safe for concurrent use.
type Iterator struct {
	// The state is pooled, the handle is not: a second Close, or a stale
	// one, finds no state and does nothing, instead of closing an iterator
	// someone else got from the pool.
	*iterState
}

// iterState is an Iterator's state, recycled with its buffers (keys, the
// search key, the backward cache): a short-lived iterator — a seek and a
// few steps — would otherwise allocate them again each time.
type iterState struct {
	r      *Reader
	index  blockIter
	data   blockIter
	block  *blockBuf   // the data block loaded in data, referenced; nil when none
	handle BlockHandle // of the data block loaded in data
	loaded bool
	noFill bool // blocks read from the file stay out of the cache
	ra     readahead
	err    error
	search []byte
}

var _ base.InternalIterator = (*Iterator)(nil)

var iterPool = sync.Pool{New: func() any { return new(iterState) }}

// NewIter returns an unpositioned iterator over the table.
func (r *Reader) NewIter() *Iterator {
	it := &Iterator{iterPool.Get().(*iterState)}
	it.r = r
	it.index.initTrusted(r.index, r.order)
	return it
}

// NewCompactionIter returns an iterator that uses the block cache but does
// not fill it: a compaction reads each block once, and its blocks would
// push out the ones readers come back to.
func (r *Reader) NewCompactionIter() *Iterator {
	it := r.NewIter()
	it.noFill = true
	return it
}

// loadBlock loads the data block the index iterator points at.
func (it *Iterator) loadBlock() bool {
	it.loaded = false
	if !it.index.valid() {
		if it.index.err != nil {
			it.err = it.r.corrupt(int64(it.r.footer.index.Offset), "index block: %v", it.index.err)
		}
		return false
	}
	h, _, ok := decodeHandle(it.index.val)
	if !ok {
		it.err = it.r.corrupt(int64(it.r.footer.index.Offset), "bad block handle in the index")
		return false
	}
	if it.block != nil && it.handle == h {
		it.data.initTrusted(it.block.data, it.r.order) // still held: no lookup
		it.loaded = true
		return true
	}
	block, _, err := it.r.dataBlock(h, !it.noFill, &it.ra)
	if err != nil {
		it.err = err
		return false
	}
	it.releaseBlock()
	it.block = block
	it.data.initTrusted(block.data, it.r.order)
	it.handle, it.loaded = h, true
	return true
}

// releaseBlock lets go of the data block held, if any.
func (it *iterState) releaseBlock() {
	if it.block != nil {
		it.data.clear()
		it.block.release()
		it.block = nil
	}
}

// settle checks the data iterator after a move and records its error.
func (it *Iterator) settle(ok bool) bool {
	if !ok && it.data.err != nil && it.err == nil {
		it.err = it.r.corrupt(int64(it.handle.Offset), "data block: %v", it.data.err)
	}
	return ok && it.err == nil
}

// skipForward moves to the first entry of the next non-empty block.
func (it *Iterator) skipForward() bool {
	for it.err == nil && it.data.err == nil {
		if !it.index.next() || !it.loadBlock() {
			return it.settle(false)
		}
		if it.data.first() {
			return true
		}
	}
	return it.settle(false)
}

// skipBackward moves to the last entry of the previous non-empty block.
func (it *Iterator) skipBackward() bool {
	for it.err == nil && it.data.err == nil {
		if !it.index.prev() || !it.loadBlock() {
			return it.settle(false)
		}
		if it.data.last() {
			return true
		}
	}
	return it.settle(false)
}

func (it *Iterator) reset() {
	it.err = nil
	it.loaded = false
	it.data.offset = -1
	it.data.err = nil
}

// First implements the engine's internal iterator interface.
func (it *Iterator) First() bool {
	if it.iterState == nil {
		return false // closed
	}
	it.reset()
	if !it.index.first() || !it.loadBlock() {
		return it.settle(false)
	}
	if it.data.first() {
		return true
	}
	return it.skipForward()
}

// Last implements the engine's internal iterator interface.
func (it *Iterator) Last() bool {
	if it.iterState == nil {
		return false // closed
	}
	it.reset()
	if !it.index.last() || !it.loadBlock() {
		return it.settle(false)
	}
	if it.data.last() {
		return true
	}
	return it.skipBackward()
}

// SeekGE implements the engine's internal iterator interface.
func (it *Iterator) SeekGE(key InternalKey) bool {
	if it.iterState == nil {
		return false // closed
	}
	it.reset()
	it.search = appendTrailer(append(it.search[:0], key.UserKey...), key.Trailer)
	if !it.index.seekGE(it.search) || !it.loadBlock() {
		return it.settle(false)
	}
	if it.data.seekGE(it.search) {
		return true
	}
	if it.data.err != nil {
		return it.settle(false)
	}
	return it.skipForward()
}

// SeekLT implements the engine's internal iterator interface.
func (it *Iterator) SeekLT(key InternalKey) bool {
	if it.iterState == nil {
		return false // closed
	}
	it.reset()
	it.search = appendTrailer(append(it.search[:0], key.UserKey...), key.Trailer)
	// The block that may hold the last key < search is the first block
	// whose separator is >= search, or the last block.
	if !it.index.seekGE(it.search) && (it.index.err != nil || !it.index.last()) {
		it.loadBlock() // records the index's error, if any
		return it.settle(false)
	}
	if !it.loadBlock() {
		return it.settle(false)
	}
	if it.data.seekLT(it.search) {
		return true
	}
	if it.data.err != nil {
		return it.settle(false)
	}
	return it.skipBackward()
}

// Next implements the engine's internal iterator interface.
func (it *Iterator) Next() bool {
	if !it.Valid() {
		return false
	}
	if it.data.next() {
		return true
	}
	if it.data.err != nil {
		return it.settle(false)
	}
	return it.skipForward()
}

// Prev implements the engine's internal iterator interface.
func (it *Iterator) Prev() bool {
	if !it.Valid() {
		return false
	}
	if it.data.prev() {
		return true
	}
	if it.data.err != nil {
		return it.settle(false)
	}
	return it.skipBackward()
}

// Valid implements the engine's internal iterator interface.
func (it *Iterator) Valid() bool {
	return it.iterState != nil && it.err == nil && it.loaded && it.data.valid()
}

// Key implements the engine's internal iterator interface.
func (it *Iterator) Key() InternalKey { return decodeKey(it.data.key) }

// Value implements the engine's internal iterator interface.
func (it *Iterator) Value() []byte { return it.data.val }

// Error implements the engine's internal iterator interface.
func (it *Iterator) Error() error {
	if it.iterState == nil {
		return nil
	}
	return it.err
}

// Close implements the engine's internal iterator interface. It releases
// the block held; it does not close the Reader.
func (it *Iterator) Close() error {
	s := it.iterState
	if s == nil {
		return nil // closed already
	}
	it.iterState = nil
	err := s.err
	s.releaseBlock()
	s.index.clear()
	*s = iterState{index: s.index, data: s.data, search: s.search[:0]}
	iterPool.Put(s)
	return err
}
