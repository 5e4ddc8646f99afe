package sstable

import (
	"bytes"
	"math/bits"
)

// Size estimates from the index.
//
// The index holds one entry per data block: a separator at or above every
// key of the block and below every key of the next, and the block's handle.
// Data blocks are written back to back from offset 0, so the handles say
// where in the file the data of any key would start. The Reader keeps the
// index in memory: the estimates below read no data block and do no I/O.

// IndexEntry describes a data block as the index does, without reading it.
type IndexEntry struct {
	// Separator is the user key of the block's index separator: at or
	// above every user key of the block, at or below every user key of
	// the blocks after it. It may be a shortened key that was never
	// written ("b" between "apple" and "banana"). It is valid only during
	// the callback that receives it.
	Separator []byte
	Handle    BlockHandle
}

// Size returns the bytes the block takes in the file: its stored
// (compressed) length and its trailer.
func (e IndexEntry) Size() uint64 { return e.Handle.Length + blockTrailerSize }

// EstimateOffset returns the file offset at which the data of userKey would
// start: 0 at or below the table's first key; the offset of the first data
// block whose index separator is at or above userKey, which is the first
// block that may hold a version of userKey; or the end of the data blocks
// (the sum of their sizes, trailers included) when userKey is above every
// key of the table. It is monotone in userKey and reads no data block.
func (r *Reader) EstimateOffset(userKey []byte) (uint64, error) {
	if bytes.Compare(userKey, r.props.Largest().UserKey) > 0 {
		return r.dataEnd()
	}
	var it blockIter
	it.initTrusted(r.index, r.order)
	if !it.seekGE(appendSearchKey(nil, userKey)) {
		if it.err != nil {
			return 0, r.corrupt(int64(r.footer.index.Offset), "index block: %v", it.err)
		}
		return r.dataEnd()
	}
	h, err := r.indexHandle(&it)
	if err != nil {
		return 0, err
	}
	return h.Offset, nil
}

// EstimateDiskUsage returns an estimate of the bytes the table stores for
// the user keys in [start, end) (an empty or nil bound is unbounded): the
// data blocks between EstimateOffset(start) and EstimateOffset(end), plus
// the same fraction of the table's other blocks (filter, index, properties,
// footer). The whole range gives the file's size, and the estimates of
// adjacent ranges add up to that of their union (to a byte of rounding
// each). The error is at most about one data block at each bound. It reads
// no data block.
func (r *Reader) EstimateDiskUsage(start, end []byte) (uint64, error) {
	lo, hi, dataEnd, err := r.offsets(start, end)
	if err != nil || hi <= lo || dataEnd == 0 {
		return 0, err
	}
	// (hi-lo) * size / dataEnd, without overflow: hi-lo <= dataEnd, so
	// the quotient is at most size and the high word is below dataEnd.
	n := min(hi-lo, dataEnd)
	h, l := bits.Mul64(n, uint64(r.size))
	q, _ := bits.Div64(h, l, dataEnd)
	return q, nil
}

// IndexEntries calls fn with the index entry of every data block between
// EstimateOffset(start) and EstimateOffset(end) (an empty or nil bound is
// unbounded), in order: the blocks that EstimateDiskUsage counts. Their
// sizes add up to the distance between the two offsets. It reads no data
// block.
func (r *Reader) IndexEntries(start, end []byte, fn func(IndexEntry)) error {
	lo, hi, _, err := r.offsets(start, end)
	if err != nil || hi <= lo {
		return err
	}
	var it blockIter
	it.initTrusted(r.index, r.order)
	ok := it.first()
	if len(start) > 0 {
		ok = it.seekGE(appendSearchKey(nil, start))
	}
	for ; ok; ok = it.next() {
		h, err := r.indexHandle(&it)
		if err != nil {
			return err
		}
		if h.Offset >= hi {
			return nil
		}
		fn(IndexEntry{Separator: decodeKey(it.key).UserKey, Handle: h})
	}
	if it.err != nil {
		return r.corrupt(int64(r.footer.index.Offset), "index block: %v", it.err)
	}
	return nil
}

// offsets returns EstimateOffset of start and of end, with 0 for an
// unbounded start and the end of the data blocks, also returned, for an
// unbounded end.
func (r *Reader) offsets(start, end []byte) (lo, hi, dataEnd uint64, err error) {
	if dataEnd, err = r.dataEnd(); err != nil {
		return 0, 0, 0, err
	}
	hi = dataEnd
	if len(start) > 0 {
		if lo, err = r.EstimateOffset(start); err != nil {
			return 0, 0, 0, err
		}
	}
	if len(end) > 0 {
		if hi, err = r.EstimateOffset(end); err != nil {
			return 0, 0, 0, err
		}
	}
	return lo, hi, dataEnd, nil
}

// dataEnd returns the offset just past the last data block: where the
// filter (or the index) starts.
func (r *Reader) dataEnd() (uint64, error) {
	var it blockIter
	it.initTrusted(r.index, r.order)
	if !it.last() {
		if it.err != nil {
			return 0, r.corrupt(int64(r.footer.index.Offset), "index block: %v", it.err)
		}
		return 0, nil // no data block
	}
	h, err := r.indexHandle(&it)
	if err != nil {
		return 0, err
	}
	return h.Offset + h.Length + blockTrailerSize, nil
}

// indexHandle decodes the handle of the index entry it is at, and checks
// that the block lies within the file's data.
func (r *Reader) indexHandle(it *blockIter) (BlockHandle, error) {
	h, _, ok := decodeHandle(it.val)
	limit := uint64(r.size - FooterSize)
	if !ok || h.Offset > limit || h.Length > limit-h.Offset || blockTrailerSize > limit-h.Offset-h.Length {
		return BlockHandle{}, r.corrupt(int64(r.footer.index.Offset), "bad block handle in the index")
	}
	return h, nil
}
