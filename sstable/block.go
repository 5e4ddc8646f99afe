package sstable

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
)

// A block is a sorted run of key-value entries with shared-prefix key
// compression:
//
//	entry    := shared (uvarint) unshared (uvarint) valueLen (uvarint) keySuffix value
//	block    := entry* restarts numRestarts
//	restarts := uint32 offset per restart point, little-endian
//
// Each key stores only what differs from the key before it: the first
// `shared` bytes are the previous key's, then `unshared` new bytes follow.
// Every restartInterval entries a restart point stores its key whole
// (shared = 0), and its offset is listed at the end of the block, so a
// search can binary-search the restart points and decode at most
// restartInterval entries.

// blockWriter builds one block.
type blockWriter struct {
	restartInterval int
	buf             []byte
	restarts        []uint32
	counter         int // entries since the last restart point
	lastKey         []byte
	entries         int
}

// add appends an entry. Keys must be added in increasing order.
func (w *blockWriter) add(key, value []byte) {
	shared := 0
	if w.counter == w.restartInterval || w.entries == 0 {
		w.restarts = append(w.restarts, uint32(len(w.buf)))
		w.counter = 0
	} else {
		n := min(len(key), len(w.lastKey))
		for shared < n && key[shared] == w.lastKey[shared] {
			shared++
		}
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(shared))
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key)-shared))
	w.buf = binary.AppendUvarint(w.buf, uint64(len(value)))
	w.buf = append(w.buf, key[shared:]...)
	w.buf = append(w.buf, value...)
	w.lastKey = append(w.lastKey[:0], key...)
	w.counter++
	w.entries++
}

// estimatedSize is the size finish would return.
func (w *blockWriter) estimatedSize() int {
	return len(w.buf) + 4*len(w.restarts) + 4
}

// finish appends the restart array and returns the block. The slice is
// valid until reset.
func (w *blockWriter) finish() []byte {
	if len(w.restarts) == 0 {
		w.restarts = append(w.restarts, 0)
	}
	for _, r := range w.restarts {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, r)
	}
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(w.restarts)))
	return w.buf
}

func (w *blockWriter) reset() {
	w.buf = w.buf[:0]
	w.restarts = w.restarts[:0]
	w.counter = 0
	w.lastKey = w.lastKey[:0]
	w.entries = 0
}

// errBlock is the reason a block is corrupt; the caller names the file and
// offset.
type errBlock struct{ reason string }

func (e *errBlock) Error() string { return "sstable: corrupt block: " + e.reason }

func blockErrorf(format string, args ...any) error {
	return &errBlock{reason: fmt.Sprintf(format, args...)}
}

// keyOrder compares the keys of a block: bytewise (the metaindex and
// properties blocks), or as encoded internal keys (data and index blocks):
// user keys bytewise, then trailers descending. Only the bytewise order of
// user keys is supported (Open checks the table's comparer), so comparisons
// call bytes.Compare directly: through a function value, the search key of
// every read would escape to the heap.
type keyOrder struct {
	internal bool
}

func (o keyOrder) compare(a, b []byte) int {
	if !o.internal {
		return bytes.Compare(a, b)
	}
	n, m := len(a)-8, len(b)-8
	if c := bytes.Compare(a[:n], b[:m]); c != 0 {
		return c
	}
	ta, tb := binary.LittleEndian.Uint64(a[n:]), binary.LittleEndian.Uint64(b[m:])
	switch {
	case ta > tb:
		return -1
	case ta < tb:
		return 1
	}
	return 0
}

// minKeyLen is the shortest valid key: an internal key has its trailer.
func (o keyOrder) minKeyLen() int {
	if o.internal {
		return 8
	}
	return 0
}

// blockIter walks the entries of one block. It checks every length it
// decodes against the block, so arbitrary bytes make it fail, never panic.
// Key returns a buffer owned by the iterator (valid until the next move);
// Value points into the block.
type blockIter struct {
	order       keyOrder
	data        []byte // the entries (restart array excluded)
	restarts    []byte // the restart array
	numRestarts int

	offset     int // offset of the current entry; -1 when not positioned
	nextOffset int // offset just past the current entry
	key        []byte
	val        []byte
	err        error

	// prevCache holds the entries of one restart run decoded by prev, in
	// order, so that stepping back through the run decodes it once
	// instead of once per step (keys are prefix-compressed: only a scan
	// forward from a restart point can rebuild them). Keys live in
	// prevKeys. An entry is good for as long as the block is: init and
	// initTrusted empty the cache.
	prevCache []prevEntry
	prevKeys  []byte
}

// prevEntry is one cached entry: its offsets, where its key is in
// prevKeys, and its value (in the block).
type prevEntry struct {
	offset, nextOffset int
	keyStart, keyEnd   int
	val                []byte
}

// init prepares it to iterate block, whose keys are in order.
func (it *blockIter) init(block []byte, order keyOrder) error {
	*it = blockIter{order: order, key: it.key[:0], offset: -1, prevCache: it.prevCache[:0], prevKeys: it.prevKeys[:0]}
	if len(block) < 4 {
		return blockErrorf("%d bytes, too short for a restart count", len(block))
	}
	count := binary.LittleEndian.Uint32(block[len(block)-4:])
	if count == 0 || uint64(count) > uint64(len(block)-4)/4 {
		return blockErrorf("restart count %d does not fit in %d bytes", count, len(block))
	}
	n := int(count) // fits: it is below len(block)
	restartsOff := len(block) - 4 - 4*n
	it.data, it.restarts, it.numRestarts = block[:restartsOff], block[restartsOff:len(block)-4], n
	for i := range n {
		if int(it.restartAt(i)) > restartsOff || (i > 0 && it.restartAt(i) <= it.restartAt(i-1)) {
			return blockErrorf("restart point %d out of order or past the entries", i)
		}
	}
	if it.restartAt(0) != 0 {
		return blockErrorf("first restart point is not at offset 0")
	}
	return nil
}

// initTrusted prepares it to iterate a block that init has already
// accepted (a block from the cache or kept by the Reader), skipping the
// checks of the restart array.
func (it *blockIter) initTrusted(block []byte, order keyOrder) {
	n := int(binary.LittleEndian.Uint32(block[len(block)-4:]))
	restartsOff := len(block) - 4 - 4*n
	*it = blockIter{
		order: order, key: it.key[:0], offset: -1,
		data: block[:restartsOff], restarts: block[restartsOff : len(block)-4], numRestarts: n,
		prevCache: it.prevCache[:0], prevKeys: it.prevKeys[:0],
	}
}

// clear drops every reference into the block (whose memory is about to
// be freed), keeping the iterator's own buffers; the iterator is
// unpositioned until the next init.
func (it *blockIter) clear() {
	clear(it.prevCache[:cap(it.prevCache)]) // their values point into the block
	*it = blockIter{order: it.order, key: it.key[:0], offset: -1, prevCache: it.prevCache[:0], prevKeys: it.prevKeys[:0]}
}

func (it *blockIter) restartAt(i int) uint32 {
	return binary.LittleEndian.Uint32(it.restarts[4*i:])
}

// decodeAt decodes the entry at off, whose predecessor's key is in it.key
// (or none, at a restart point). It sets key, val and nextOffset.
func (it *blockIter) decodeAt(off int) bool {
	p := it.data[off:]
	shared, n1 := uvarint(p)
	unshared, n2 := uvarintAt(p, n1)
	vlen, n3 := uvarintAt(p, n1+n2)
	if n1 <= 0 || n2 <= 0 || n3 <= 0 {
		it.fail("bad entry header at block offset %d", off)
		return false
	}
	p = p[n1+n2+n3:]
	if shared > uint64(len(it.key)) || unshared > uint64(len(p)) || vlen > uint64(len(p))-unshared {
		it.fail("entry at block offset %d runs past the block", off)
		return false
	}
	it.key = append(it.key[:shared], p[:unshared]...)
	if len(it.key) < it.order.minKeyLen() {
		it.fail("key of %d bytes at block offset %d", len(it.key), off)
		return false
	}
	it.val = p[unshared : unshared+vlen : unshared+vlen]
	it.offset = off
	it.nextOffset = len(it.data) - len(p) + int(unshared+vlen)
	return true
}

func uvarintAt(p []byte, off int) (uint64, int) {
	if off <= 0 || off > len(p) {
		return 0, -1
	}
	return uvarint(p[off:])
}

// uvarint is binary.Uvarint with a fast path for one-byte values, which
// most entry lengths are.
func uvarint(p []byte) (uint64, int) {
	if len(p) > 0 && p[0] < 0x80 {
		return uint64(p[0]), 1
	}
	return binary.Uvarint(p)
}

func (it *blockIter) fail(format string, args ...any) {
	it.err = blockErrorf(format, args...)
	it.offset = -1
}

// seekRestart positions at restart point i.
func (it *blockIter) seekRestart(i int) bool {
	it.key = it.key[:0]
	off := int(it.restartAt(i))
	if off >= len(it.data) {
		it.offset = -1
		return false
	}
	return it.decodeAt(off)
}

func (it *blockIter) valid() bool { return it.offset >= 0 }

func (it *blockIter) first() bool { return it.seekRestart(0) }

func (it *blockIter) next() bool {
	if it.offset < 0 {
		return false
	}
	if it.nextOffset >= len(it.data) {
		it.offset = -1
		return false
	}
	// A restart point's entry has shared = 0, so decoding it after its
	// predecessor yields its whole key.
	return it.decodeAt(it.nextOffset)
}

// last positions at the last entry.
func (it *blockIter) last() bool {
	if !it.seekRestart(it.numRestarts - 1) {
		return false
	}
	for it.nextOffset < len(it.data) {
		if !it.next() {
			return false
		}
	}
	return true
}

// prev moves to the entry before the current one. The first step back
// into a restart run decodes the run from its restart point, caching its
// entries (prevCache); the next steps back through the run take them from
// the cache.
func (it *blockIter) prev() bool {
	if it.offset <= 0 {
		it.offset = -1
		return false
	}
	target := it.offset
	if n := len(it.prevCache); n == 0 || it.prevCache[n-1].nextOffset != target {
		if !it.fillPrevCache(target) {
			return false
		}
	}
	n := len(it.prevCache)
	e := it.prevCache[n-1]
	it.prevCache = it.prevCache[:n-1]
	it.key = append(it.key[:0], it.prevKeys[e.keyStart:e.keyEnd]...)
	it.val, it.offset, it.nextOffset = e.val, e.offset, e.nextOffset
	return true
}

// fillPrevCache decodes the entries from the restart point before target
// up to target (excluded) into prevCache.
func (it *blockIter) fillPrevCache(target int) bool {
	i := sort.Search(it.numRestarts, func(i int) bool { return int(it.restartAt(i)) >= target }) - 1
	it.prevCache, it.prevKeys = it.prevCache[:0], it.prevKeys[:0]
	if !it.seekRestart(i) {
		return false
	}
	for {
		start := len(it.prevKeys)
		it.prevKeys = append(it.prevKeys, it.key...)
		it.prevCache = append(it.prevCache, prevEntry{
			offset: it.offset, nextOffset: it.nextOffset,
			keyStart: start, keyEnd: len(it.prevKeys), val: it.val,
		})
		if it.nextOffset >= target {
			return true
		}
		if !it.next() {
			return false
		}
	}
}

// searchRestarts returns the index of the last restart point whose key is
// < target (or 0). It compares restart keys where they lie in the block,
// without decoding them into it.key.
func (it *blockIter) searchRestarts(target []byte) (int, bool) {
	lo, hi := 0, it.numRestarts // find the first restart with key >= target
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		k, ok := it.restartKey(mid)
		if !ok {
			return 0, false
		}
		if it.order.compare(k, target) >= 0 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return max(lo-1, 0), true
}

// restartKey returns the key stored whole at restart point i.
func (it *blockIter) restartKey(i int) ([]byte, bool) {
	off := int(it.restartAt(i))
	if off >= len(it.data) {
		it.fail("restart point %d at the end of the entries", i)
		return nil, false
	}
	p := it.data[off:]
	shared, n1 := uvarint(p)
	unshared, n2 := uvarintAt(p, n1)
	_, n3 := uvarintAt(p, n1+n2)
	if n1 <= 0 || n2 <= 0 || n3 <= 0 || shared != 0 {
		it.fail("bad entry at restart point %d", i)
		return nil, false
	}
	p = p[n1+n2+n3:]
	if unshared > uint64(len(p)) || int(unshared) < it.order.minKeyLen() {
		it.fail("key at restart point %d runs past the block", i)
		return nil, false
	}
	return p[:unshared], true
}

// seekGE positions at the first entry with key >= target.
func (it *blockIter) seekGE(target []byte) bool {
	if len(it.data) == 0 { // an empty block: the index of a table without points
		it.offset = -1
		return false
	}
	i, ok := it.searchRestarts(target)
	if !ok || !it.seekRestart(i) {
		return false
	}
	for it.order.compare(it.key, target) < 0 {
		if !it.next() {
			return false
		}
	}
	return true
}

// seekLT positions at the last entry with key < target.
func (it *blockIter) seekLT(target []byte) bool {
	if len(it.data) == 0 { // an empty block: the index of a table without points
		it.offset = -1
		return false
	}
	i, ok := it.searchRestarts(target)
	if !ok || !it.seekRestart(i) {
		return false
	}
	if it.order.compare(it.key, target) >= 0 {
		it.offset = -1 // the first entry is already >= target
		return false
	}
	for it.nextOffset < len(it.data) {
		prevOff := it.offset
		if !it.next() {
			return false
		}
		if it.order.compare(it.key, target) >= 0 {
			// Step back to the entry before: rescan to it.
			it.offset = prevOff
			return it.rescanTo(prevOff)
		}
	}
	return true
}

// rescanTo decodes the entry at off by scanning from its restart point.
func (it *blockIter) rescanTo(off int) bool {
	i := sort.Search(it.numRestarts, func(i int) bool { return int(it.restartAt(i)) > off }) - 1
	if !it.seekRestart(i) {
		return false
	}
	for it.offset < off {
		if !it.next() {
			return false
		}
	}
	return it.offset == off
}
