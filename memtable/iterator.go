package memtable

import (
	"slices"
	"sync"
	"unsafe"

	"github.com/distributedkv/dkv/internal/base"
)

// An Iterator copies entries from the tree a window at a time: a seek
// copies minWindow entries (a seek is often followed by a few steps only),
// and each refill in the same direction twice as many, up to maxWindow, so
// that a long scan pays for a descent from the root once per few hundred
// entries.
const (
	minWindow = 16
	maxWindow = 512
)

// Iterator walks a MemTable in internal-key order. It is safe to use while
// the writer adds entries: it never holds the tree's lock between calls.
// Instead it copies a window of entries under the read lock and, when the
// window is used up, seeks again from the last entry it returned. Entries
// are never changed or removed, and each internal key is unique, so a
// re-seek continues exactly where the window ended; entries added since may
// or may not be seen (callers filter by sequence number).
//
// Key and Value point into the memtable's arena and stay valid for as long
// as the caller holds them.
type Iterator struct {
	m     *MemTable
	buf   []entry // the window, ascending
	pos   int     // index in buf; -1 or len(buf) when not positioned
	valid bool
	size  int // entries the next refill copies
	// touched is what touch read, kept so that its loads are not dropped.
	touched byte
	// win is the pooled window buf came from, given back by Close.
	win *[]entry
}

var _ base.InternalIterator = (*Iterator)(nil)

// windowPool recycles the windows of closed iterators: a short-lived
// iterator (a seek and a few steps) would otherwise allocate one each.
var windowPool = sync.Pool{New: func() any { w := make([]entry, 0, minWindow); return &w }}

// NewIter returns an unpositioned Iterator.
func (m *MemTable) NewIter() *Iterator {
	w := windowPool.Get().(*[]entry)
	return &Iterator{m: m, buf: (*w)[:0], win: w}
}

// fillFrom loads the window with the entries >= pivot (or > pivot when
// exclusive), ascending. all says to start at the first entry.
func (it *Iterator) fillAfter(pivot entry, all, exclusive bool) {
	it.buf = it.buf[:0]
	visit := func(e entry) bool {
		if exclusive && len(it.buf) == 0 && !it.m.less(pivot, e) {
			return true // skip the pivot itself
		}
		it.buf = append(it.buf, e)
		return len(it.buf) < it.size
	}
	it.m.mu.RLock()
	if all {
		it.m.tree.Ascend(visit)
	} else {
		it.m.tree.AscendGreaterOrEqual(pivot, visit)
	}
	it.m.mu.RUnlock()
	it.pos = 0
	it.valid = len(it.buf) > 0
	it.touched ^= touch(it.buf)
}

// touch loads the first and last byte of every entry's key and value.
// The arena holds them in insertion order, so a scan in key order meets
// a cache miss at every entry; loads that do not depend on one another
// overlap, so taking the window's misses here, together, costs a fraction
// of taking them one at a time as the caller reaches each entry.
// It returns a byte of them, for the caller to keep, so that the
// compiler does not drop the loads.
func touch(w []entry) byte {
	var x byte
	for i := range w {
		if n := w[i].keyLen + w[i].valLen; n > 0 {
			x ^= *(*byte)(w[i].ptr) ^ *(*byte)(unsafe.Add(w[i].ptr, n-1))
		}
	}
	return x
}

// fillBefore loads the window with the entries < pivot (or all entries when
// all), keeping the window ascending and positioning at its last entry.
func (it *Iterator) fillBefore(pivot entry, all bool) {
	it.buf = it.buf[:0]
	visit := func(e entry) bool {
		if !all && !it.m.less(e, pivot) {
			return true // skip the pivot itself (DescendLessOrEqual includes it)
		}
		it.buf = append(it.buf, e)
		return len(it.buf) < it.size
	}
	it.m.mu.RLock()
	if all {
		it.m.tree.Descend(visit)
	} else {
		it.m.tree.DescendLessOrEqual(pivot, visit)
	}
	it.m.mu.RUnlock()
	it.touched ^= touch(it.buf)
	slices.Reverse(it.buf)
	it.pos = len(it.buf) - 1
	it.valid = len(it.buf) > 0
}

func pivotOf(k base.InternalKey) entry {
	return makeEntry(k.UserKey, len(k.UserKey), k.Trailer)
}

// First implements base.InternalIterator.
func (it *Iterator) First() bool {
	it.size = minWindow
	it.fillAfter(entry{}, true, false)
	return it.valid
}

// Last implements base.InternalIterator.
func (it *Iterator) Last() bool {
	it.size = minWindow
	it.fillBefore(entry{}, true)
	return it.valid
}

// SeekGE implements base.InternalIterator.
func (it *Iterator) SeekGE(key base.InternalKey) bool {
	it.size = minWindow
	it.fillAfter(pivotOf(key), false, false)
	return it.valid
}

// SeekLT implements base.InternalIterator.
func (it *Iterator) SeekLT(key base.InternalKey) bool {
	it.size = minWindow
	it.fillBefore(pivotOf(key), false)
	return it.valid
}

// grow doubles the next refill's window, up to maxWindow.
func (it *Iterator) grow() { it.size = min(2*it.size, maxWindow) }

// Next implements base.InternalIterator.
func (it *Iterator) Next() bool {
	if !it.valid {
		return false
	}
	if it.pos+1 < len(it.buf) {
		it.pos++
		return true
	}
	it.grow()
	it.fillAfter(it.buf[it.pos], false, true)
	return it.valid
}

// Prev implements base.InternalIterator.
func (it *Iterator) Prev() bool {
	if !it.valid {
		return false
	}
	if it.pos > 0 {
		it.pos--
		return true
	}
	it.grow()
	it.fillBefore(it.buf[it.pos], false)
	return it.valid
}

// Valid implements base.InternalIterator.
func (it *Iterator) Valid() bool { return it.valid }

// Key implements base.InternalIterator.
func (it *Iterator) Key() base.InternalKey {
	e := &it.buf[it.pos]
	return base.InternalKey{UserKey: e.key(), Trailer: e.trailer}
}

// Value implements base.InternalIterator.
func (it *Iterator) Value() []byte { return it.buf[it.pos].value() }

// Error implements base.InternalIterator: a memtable iterator cannot fail.
func (it *Iterator) Error() error { return nil }

// Close implements base.InternalIterator.
func (it *Iterator) Close() error {
	if it.win != nil {
		w := it.buf[:0]   // a grown window replaces the pooled one
		clear(w[:cap(w)]) // the entries point into the arena: do not pin it
		*it.win = w
		windowPool.Put(it.win)
	}
	it.valid, it.buf, it.win = false, nil, nil
	return nil
}
