package iterator

import "github.com/distributedkv/dkv/internal/base"

// direction is the way an iterator last moved.
type direction int8

const (
	forward  direction = 1
	backward direction = -1
)

// MergingIter merges children that are each sorted in internal-key order,
// and may overlap, into one stream in internal-key order, in both
// directions.
//
// Invariant: the heap holds one item per child that is positioned, keyed by
// the child's current key. Moving forward, every child in the heap is at
// its first entry after the merged position (the heap's minimum is the
// current entry); moving backward, at its last entry before it (the heap's
// maximum is the current entry). A child missing from the heap is
// exhausted in the current direction.
//
// Equal internal keys in two children (which the engine never produces:
// sequence numbers are unique) are ordered by child index, lower first, so
// that the merged stream is a total order and reads the same both ways.
type MergingIter struct {
	cmp      base.Compare
	children []base.InternalIterator
	heap     mergeHeap
	err      error
}

var _ base.InternalIterator = (*MergingIter)(nil)

// NewMerging returns an unpositioned iterator over the union of children.
// The MergingIter owns the children: its Close closes them.
func NewMerging(cmp base.Compare, children ...base.InternalIterator) *MergingIter {
	m := new(MergingIter)
	m.Init(cmp, children...)
	return m
}

// Init makes m an unpositioned iterator over the union of children, as
// NewMerging does, reusing m's memory (a closed MergingIter's, or a zero
// one).
func (m *MergingIter) Init(cmp base.Compare, children ...base.InternalIterator) {
	items := m.heap.items[:0]
	if cap(items) < len(children) {
		items = make([]mergeItem, 0, len(children))
	}
	*m = MergingIter{cmp: cmp, children: children, heap: mergeHeap{cmp: cmp, items: items, dir: forward}}
}

// mergeItem is a positioned child and a cached copy of its current key
// (valid until that child moves, and only the top child moves).
type mergeItem struct {
	index int
	key   base.InternalKey
}

// mergeHeap is a binary heap of items ordered by (key, child index): a
// min-heap moving forward, a max-heap moving backward.
type mergeHeap struct {
	cmp   base.Compare
	items []mergeItem
	dir   direction
}

// less reports whether item i comes out of the heap before item j.
func (h *mergeHeap) less(i, j int) bool {
	a, b := &h.items[i], &h.items[j]
	c := base.InternalCompare(h.cmp, a.key, b.key)
	if c == 0 {
		c = a.index - b.index
	}
	if h.dir == forward {
		return c < 0
	}
	return c > 0
}

func (h *mergeHeap) init() {
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *mergeHeap) down(i int) {
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			return
		}
		h.items[i], h.items[j] = h.items[j], h.items[i]
		i = j
	}
}

// popTop removes the top item.
func (h *mergeHeap) popTop() {
	n := len(h.items) - 1
	h.items[0] = h.items[n]
	h.items = h.items[:n]
	if n > 0 {
		h.down(0)
	}
}

// fail records the first error and empties the heap.
func (m *MergingIter) fail(err error) bool {
	if m.err == nil {
		m.err = err
	}
	m.heap.items = m.heap.items[:0]
	return false
}

// add puts child i in the heap if ok (it is positioned); otherwise it
// records the child's error, if any. It reports whether the child is
// healthy.
func (m *MergingIter) add(i int, ok bool) bool {
	c := m.children[i]
	if ok {
		m.heap.items = append(m.heap.items, mergeItem{index: i, key: c.Key()})
		return true
	}
	if err := c.Error(); err != nil {
		m.fail(err)
		return false
	}
	return true
}

// position moves every child with move and rebuilds the heap for dir.
func (m *MergingIter) position(dir direction, move func(c base.InternalIterator) bool) bool {
	if m.err != nil {
		return false
	}
	m.heap.items = m.heap.items[:0]
	m.heap.dir = dir
	for i, c := range m.children {
		if !m.add(i, move(c)) {
			return false
		}
	}
	m.heap.init()
	return len(m.heap.items) > 0
}

// First implements base.InternalIterator.
func (m *MergingIter) First() bool {
	return m.position(forward, base.InternalIterator.First)
}

// Last implements base.InternalIterator.
func (m *MergingIter) Last() bool {
	return m.position(backward, base.InternalIterator.Last)
}

// SeekGE implements base.InternalIterator.
func (m *MergingIter) SeekGE(key base.InternalKey) bool {
	return m.position(forward, func(c base.InternalIterator) bool { return c.SeekGE(key) })
}

// SeekLT implements base.InternalIterator.
func (m *MergingIter) SeekLT(key base.InternalKey) bool {
	return m.position(backward, func(c base.InternalIterator) bool { return c.SeekLT(key) })
}

// Next implements base.InternalIterator.
func (m *MergingIter) Next() bool {
	if !m.Valid() {
		return false
	}
	if m.heap.dir == backward {
		return m.switchToForward()
	}
	return m.step(base.InternalIterator.Next)
}

// Prev implements base.InternalIterator.
func (m *MergingIter) Prev() bool {
	if !m.Valid() {
		return false
	}
	if m.heap.dir == forward {
		return m.switchToBackward()
	}
	return m.step(base.InternalIterator.Prev)
}

// step moves the top child in the heap's direction and restores the heap.
func (m *MergingIter) step(move func(base.InternalIterator) bool) bool {
	top := &m.heap.items[0]
	c := m.children[top.index]
	if move(c) {
		top.key = c.Key()
		m.heap.down(0)
		return true
	}
	if err := c.Error(); err != nil {
		return m.fail(err)
	}
	m.heap.popTop()
	return len(m.heap.items) > 0
}

// switchToForward is Next after a backward move. The current entry is
// (key, cur), the top child's; every other child goes to its first entry
// after (key, cur) in the merged order: its first entry > key, or its first
// entry >= key when its index is above cur (ties go by index). The current
// child moves last, because key points into it.
func (m *MergingIter) switchToForward() bool {
	cur, key := m.heap.items[0].index, m.heap.items[0].key
	m.heap.items = m.heap.items[:0]
	m.heap.dir = forward
	for i, c := range m.children {
		if i == cur {
			continue
		}
		var ok bool
		if i > cur {
			ok = c.SeekGE(key)
		} else {
			ok = seekGT(m.cmp, c, key)
		}
		if !m.add(i, ok) {
			return false
		}
	}
	if !m.add(cur, m.children[cur].Next()) {
		return false
	}
	m.heap.init()
	return len(m.heap.items) > 0
}

// switchToBackward is Prev after a forward move: the mirror image of
// switchToForward. Every other child goes to its last entry before
// (key, cur): its last entry < key, or its last entry <= key when its index
// is below cur.
func (m *MergingIter) switchToBackward() bool {
	cur, key := m.heap.items[0].index, m.heap.items[0].key
	m.heap.items = m.heap.items[:0]
	m.heap.dir = backward
	for i, c := range m.children {
		if i == cur {
			continue
		}
		var ok bool
		if i < cur {
			ok = seekLE(m.cmp, c, key)
		} else {
			ok = c.SeekLT(key)
		}
		if !m.add(i, ok) {
			return false
		}
	}
	if !m.add(cur, m.children[cur].Prev()) {
		return false
	}
	m.heap.init()
	return len(m.heap.items) > 0
}

// seekGT moves c to its first entry > key. The internal key right after
// key is the same user key with the next smaller trailer, so one seek
// does it unless the trailer is already 0.
func seekGT(cmp base.Compare, c base.InternalIterator, key base.InternalKey) bool {
	if key.Trailer > 0 {
		return c.SeekGE(base.InternalKey{UserKey: key.UserKey, Trailer: key.Trailer - 1})
	}
	ok := c.SeekGE(key)
	for ok && base.InternalCompare(cmp, c.Key(), key) == 0 {
		ok = c.Next()
	}
	return ok
}

// seekLE moves c to its last entry <= key.
func seekLE(cmp base.Compare, c base.InternalIterator, key base.InternalKey) bool {
	if key.Trailer > 0 {
		return c.SeekLT(base.InternalKey{UserKey: key.UserKey, Trailer: key.Trailer - 1})
	}
	// key is the last internal key of its user key: step over the entries
	// equal to it, then back once.
	ok := c.SeekGE(key)
	for ok && base.InternalCompare(cmp, c.Key(), key) == 0 {
		ok = c.Next()
	}
	if ok {
		return c.Prev()
	}
	if c.Error() != nil {
		return false
	}
	return c.Last()
}

// Valid implements base.InternalIterator.
func (m *MergingIter) Valid() bool { return m.err == nil && len(m.heap.items) > 0 }

// Key implements base.InternalIterator. It is the current child's key.
func (m *MergingIter) Key() base.InternalKey { return m.heap.items[0].key }

// Value implements base.InternalIterator. It is the current child's value.
func (m *MergingIter) Value() []byte { return m.children[m.heap.items[0].index].Value() }

// Error implements base.InternalIterator: the first error a child
// reported. A child that failed ends the iteration.
func (m *MergingIter) Error() error { return m.err }

// Close implements base.InternalIterator. It closes every child and
// returns the first error met, during iteration or while closing.
func (m *MergingIter) Close() error {
	err := m.err
	for _, c := range m.children {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	clear(m.heap.items[:cap(m.heap.items)]) // their keys point into the children's memory
	m.heap.items = m.heap.items[:0]
	m.children = nil
	return err
}
