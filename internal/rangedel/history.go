package rangedel

import (
	"math"
	"slices"
	"sort"

	"github.com/distributedkv/dkv/internal/base"
)

// history answers "the newest tombstone at or below r covering key" for
// every r, in O(n log n) room for n tombstones — where spans listing every
// covering sequence number can take O(n²).
//
// Picture the tombstones painted onto the key space in sequence-number
// order, each over the ones before it: after the tombstones at or below
// r are painted, the paint over a key is the answer for r. Each paint
// stroke ends the life of the fragments it covers and starts at most
// three (itself and the uncovered ends of the fragments at its edges), so
// over all of time there are at most 3n fragments, each a rectangle: a key
// range (in pieces between consecutive bounds: leaves) times the
// sequence numbers [from, to) for which it is the paint. At any r the
// live rectangles do not overlap.
//
// A segment tree over the leaves holds each rectangle in the O(log n)
// nodes that tile its key range. The rectangles of one node all cover all
// of the node's leaves, so no two of them live at the same r: sorted by
// from, one binary search finds the only one that can hold r. A lookup
// walks from key's leaf to the root: O(log² n).
type history struct {
	cmp    base.Compare
	bounds [][]byte
	leaves int
	first  []int32 // node i's rectangles are rects[first[i]:first[i+1]]
	rects  []life
}

// life is a rectangle as a node of the tree holds it: the paint is
// tombstone seq for readers at from <= r < to.
type life struct {
	from, to, seq base.SeqNum
}

// never is the end of a rectangle still live after every tombstone.
const never = base.SeqNum(math.MaxUint64)

func newHistory(cmp base.Compare, ts []Tombstone) *history {
	c := cutAt(cmp, ts)
	h := &history{cmp: cmp, bounds: c.bounds, leaves: max(len(c.bounds)-1, 0)}
	rects := paint(c, h.leaves)
	// Rectangles go into the tree by from, so that each node's list is
	// sorted.
	slices.SortStableFunc(rects, func(a, b rect) int { return cmpSeq(a.from, b.from) })
	h.first = make([]int32, 2*h.leaves+1)
	for _, r := range rects {
		h.tile(r, func(n int) { h.first[n+1]++ })
	}
	for n := range 2 * h.leaves {
		h.first[n+1] += h.first[n]
	}
	h.rects = make([]life, h.first[2*h.leaves])
	next := slices.Clone(h.first[:2*h.leaves])
	for _, r := range rects {
		h.tile(r, func(n int) {
			h.rects[next[n]] = r.life
			next[n]++
		})
	}
	return h
}

// rect is a rectangle of the history: the leaves lo to hi (excluded)
// during its life.
type rect struct {
	lo, hi int32
	life
}

// paint returns the rectangles of the tombstones of c, over its leaves.
func paint(c cut, leaves int) []rect {
	order := make([]int32, len(c.live))
	for i := range order {
		order[i] = int32(i)
	}
	// A memtable's tombstones come in sequence-number order already.
	slices.SortStableFunc(order, func(a, b int32) int { return cmpSeq(c.live[a].Seq, c.live[b].Seq) })

	// The fragments live now start at the members of starts; the one
	// starting at leaf p covers the leaves p to end[p] (excluded) with
	// tombstone seq[p], since from[p].
	var rects []rect
	starts := newBitset(leaves)
	end := make([]int32, leaves)
	seq := make([]base.SeqNum, leaves)
	from := make([]base.SeqNum, leaves)
	begin := func(p, e int32, s, at base.SeqNum) {
		end[p], seq[p], from[p] = e, s, at
		starts.set(int(p))
	}
	finish := func(p int32, at base.SeqNum) {
		if from[p] < at { // a fragment born and painted over at one sequence number was never read
			rects = append(rects, rect{p, end[p], life{from[p], at, seq[p]}})
		}
		starts.clear(int(p))
	}
	for _, i := range order {
		lo, hi, t := c.lo[i], c.hi[i], c.live[i].Seq
		if p := int32(starts.prev(int(lo) - 1)); p >= 0 && end[p] > lo {
			// A fragment straddles lo: its left part lives on, and its
			// right part too when it also straddles hi.
			e, s := end[p], seq[p]
			finish(p, t)
			begin(p, lo, s, t)
			if e > hi {
				begin(hi, e, s, t)
			}
		}
		for p := starts.next(int(lo)); p >= 0 && p < int(hi); p = starts.next(p + 1) {
			e, s := end[p], seq[p]
			finish(int32(p), t)
			if e > hi {
				begin(hi, e, s, t)
			}
		}
		begin(lo, hi, t, t)
	}
	for p := starts.next(0); p >= 0; p = starts.next(p + 1) {
		rects = append(rects, rect{int32(p), end[p], life{from[p], never, seq[p]}})
	}
	return rects
}

// tile calls visit with each node of the tree whose leaves, together,
// are exactly r's: O(log n) of them. The tree has node 1 for root, leaf i
// at node leaves+i, and node n's children at 2n and 2n+1 (the bottom-up
// layout, for any number of leaves); a lookup of leaf i visits its
// ancestors, of which exactly one is visited here when r holds i.
func (h *history) tile(r rect, visit func(node int)) {
	for l, u := int(r.lo)+h.leaves, int(r.hi)+h.leaves; l < u; l, u = l>>1, u>>1 {
		if l&1 == 1 {
			visit(l)
			l++
		}
		if u&1 == 1 {
			u--
			visit(u)
		}
	}
}

// covering is List.Covering over the history.
func (h *history) covering(key []byte, r base.SeqNum) (base.SeqNum, bool) {
	// The leaf holding key: the last bound at or below it.
	i := sort.Search(len(h.bounds), func(i int) bool { return h.cmp(h.bounds[i], key) > 0 }) - 1
	if i < 0 || i >= h.leaves {
		return 0, false
	}
	for n := i + h.leaves; n >= 1; n >>= 1 {
		lives := h.rects[h.first[n]:h.first[n+1]]
		j := sort.Search(len(lives), func(j int) bool { return lives[j].from > r }) - 1
		if j >= 0 && r < lives[j].to {
			return lives[j].seq, true
		}
	}
	return 0, false
}

func cmpSeq(a, b base.SeqNum) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
