package rangedel

import (
	"slices"
	"sort"

	"github.com/distributedkv/dkv/internal/base"
)

// Fragment cuts tombstones into sorted, non-overlapping spans, each with
// the sequence numbers of every tombstone covering it; tombstones with an
// empty range (Start >= End) delete nothing and are ignored. Neighbouring
// spans with the same sequence numbers are joined. The spans refer to the
// tombstones' key bytes.
//
// The spans answer Covering exactly at every sequence number, and that
// can take room: n nested tombstones with different sequence numbers make
// n spans holding 1, 2, ..., n of them. Fragment is for tombstones that
// are already few per key — a table's, written from spans — and its cost
// is O(n log n) plus the size of what it returns. To fragment tombstones
// written by users, use FragmentFor, which keeps only what readers can
// tell apart.
func Fragment(cmp base.Compare, ts []Tombstone) []Span {
	c := cutAt(cmp, ts)
	if len(c.live) == 0 {
		return nil
	}
	// One stripe per distinct sequence number: every one is kept.
	distinct := make([]base.SeqNum, len(c.live))
	for i, t := range c.live {
		distinct[i] = t.Seq
	}
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	stripe := make([]int32, len(c.live))
	for i, t := range c.live {
		k, _ := slices.BinarySearch(distinct, t.Seq)
		stripe[i] = int32(k)
	}
	return c.sweep(stripe, len(distinct), distinct)
}

// FragmentFor cuts tombstones into sorted, non-overlapping spans as
// Fragment does, but keeps in each span only the sequence numbers that
// readers at the sequence numbers snapshots (ascending), or at any
// sequence number at or above every tombstone's, can tell apart.
//
// The invariant: the snapshots cut the sequence numbers into stripes,
// (s[i-1], s[i]], with the last stripe above every snapshot; a span keeps
// the newest sequence number of each stripe among the tombstones covering
// it, and drops the others. That is enough: a reader at r asks for the
// newest t <= r covering a key (the best witness that a version below r is
// deleted), and when r is a snapshot, or is above every tombstone, the
// newest t <= r is the newest of its stripe or of a stripe below, which
// the span keeps. A reader at any other sequence number may get a wrong
// answer: callers pass every sequence number a reader can still read at
// below the newest tombstone. Compaction passes the open snapshots; a
// flush also the tombstones not yet published to readers (see
// memtable.MemTable.RangeDelsFor).
//
// With k snapshots a span holds at most k+1 sequence numbers, so for n
// tombstones FragmentFor returns O(n·(k+1)) sequence numbers at most, and
// takes O(n log n) plus that. The spans refer to the tombstones' key
// bytes.
func FragmentFor(cmp base.Compare, ts []Tombstone, snapshots []base.SeqNum) []Span {
	c := cutAt(cmp, ts)
	if len(c.live) == 0 {
		return nil
	}
	if !slices.IsSorted(snapshots) {
		snapshots = slices.Sorted(slices.Values(snapshots))
	}
	stripe := make([]int32, len(c.live))
	for i, t := range c.live {
		stripe[i] = int32(stripeOf(snapshots, t.Seq))
	}
	return c.sweep(stripe, len(snapshots)+1, nil)
}

// stripeOf returns how many of the ascending snapshots are older than seq:
// the stripe of seq, counted from the oldest.
func stripeOf(snapshots []base.SeqNum, seq base.SeqNum) int {
	return sort.Search(len(snapshots), func(i int) bool { return snapshots[i] >= seq })
}

// cut is tombstones ready to fragment: the live ones (non-empty ranges),
// and every key where a fragment can begin or end.
type cut struct {
	live   []Tombstone
	bounds [][]byte // every start and end, sorted, without repeats
	lo, hi []int32  // per live tombstone: the indexes of its start and end in bounds
}

func cutAt(cmp base.Compare, ts []Tombstone) cut {
	c := cut{live: make([]Tombstone, 0, len(ts)), bounds: make([][]byte, 0, 2*len(ts))}
	for _, t := range ts {
		if cmp(t.Start, t.End) < 0 {
			c.live = append(c.live, t)
			c.bounds = append(c.bounds, t.Start, t.End)
		}
	}
	slices.SortFunc(c.bounds, cmp)
	c.bounds = slices.CompactFunc(c.bounds, func(a, b []byte) bool { return cmp(a, b) == 0 })
	c.lo = make([]int32, len(c.live))
	c.hi = make([]int32, len(c.live))
	for i, t := range c.live {
		lo, _ := slices.BinarySearchFunc(c.bounds, t.Start, cmp)
		hi, _ := slices.BinarySearchFunc(c.bounds, t.End, cmp)
		c.lo[i], c.hi[i] = int32(lo), int32(hi)
	}
	return c
}

// byBound returns, for each bound, the live tombstones whose index in at
// is that bound: starts or ends, grouped. first[b]..first[b+1] index
// into the returned list.
func byBound(at []int32, nBounds int) (first, list []int32) {
	first = make([]int32, nBounds+1)
	for _, b := range at {
		first[b+1]++
	}
	for b := range nBounds {
		first[b+1] += first[b]
	}
	list = make([]int32, len(at))
	next := slices.Clone(first[:nBounds])
	for i, b := range at {
		list[next[b]] = int32(i)
		next[b]++
	}
	return first, list
}

// sweep walks the bounds in order, keeping the tombstones that cover the
// current piece, grouped by stripe (stripe[i] for live tombstone i; a
// higher stripe holds newer sequence numbers, and stripes do not
// interleave), and emits for each piece the newest sequence number of
// every stripe with a tombstone over it, newest first. stripeSeq, when not
// nil, says each stripe k has the one sequence number stripeSeq[k], so a
// count of the covering tombstones stands in for a heap.
//
// Cost: sorting, O(log n) per tombstone entering or leaving, and building
// a span's list of sequence numbers only when some stripe's newest one
// changed — so O(n log n) plus the output, even when a piece is covered
// by many tombstones.
func (c *cut) sweep(stripe []int32, nStripes int, stripeSeq []base.SeqNum) []Span {
	startFirst, starts := byBound(c.lo, len(c.bounds))
	endFirst, ends := byBound(c.hi, len(c.bounds))
	a := newActive(c.live, stripe, nStripes, stripeSeq)
	var spans []Span
	// pool backs the spans' Seqs, in chunks never grown: of 1024, or
	// fewer for few tombstones (a memtable's newest level is often one).
	var pool []base.SeqNum
	chunk := min(1024, 2*len(c.live))
	open := false // the last span ends at the current bound
	for b := 0; b+1 < len(c.bounds); b++ {
		for _, i := range ends[endFirst[b]:endFirst[b+1]] {
			a.leave(i)
		}
		for _, i := range starts[startFirst[b]:startFirst[b+1]] {
			a.enter(i)
		}
		changed := a.settle()
		switch {
		case a.n == 0:
			open = false
		case open && !changed:
			spans[len(spans)-1].End = c.bounds[b+1]
		default:
			if cap(pool)-len(pool) < a.n {
				pool = make([]base.SeqNum, 0, max(a.n, chunk))
			}
			from := len(pool)
			pool = a.appendSeqs(pool)
			spans = append(spans, Span{Start: c.bounds[b], End: c.bounds[b+1], Seqs: pool[from:len(pool):len(pool)]})
			open = true
		}
	}
	return spans
}

// active is the sweep's set of tombstones over the current piece, by
// stripe, with the newest sequence number of each stripe that has one.
type active struct {
	live      []Tombstone
	stripe    []int32
	stripeSeq []base.SeqNum // see sweep; nil: heaps

	present *bitset       // stripes with a tombstone over the piece
	n       int           // members of present
	top     []base.SeqNum // per stripe in present: its newest sequence number
	count   []int32       // with stripeSeq: covering tombstones per stripe
	heaps   [][]int32     // without: per stripe, a max-heap of tombstones by sequence number; ended ones leave lazily
	ended   []bool        // without: per tombstone, once the sweep is past its end
	dirty   []int32       // stripes touched since the last settle
	isDirty []bool
}

func newActive(live []Tombstone, stripe []int32, nStripes int, stripeSeq []base.SeqNum) *active {
	a := &active{live: live, stripe: stripe, stripeSeq: stripeSeq, present: newBitset(nStripes),
		top: make([]base.SeqNum, nStripes), isDirty: make([]bool, nStripes)}
	if stripeSeq != nil {
		a.count = make([]int32, nStripes)
	} else {
		a.heaps = make([][]int32, nStripes)
		a.ended = make([]bool, len(live))
	}
	return a
}

func (a *active) seqOf(i int32) base.SeqNum { return a.live[i].Seq }

func (a *active) touch(k int32) {
	if !a.isDirty[k] {
		a.isDirty[k] = true
		a.dirty = append(a.dirty, k)
	}
}

// enter adds tombstone i.
func (a *active) enter(i int32) {
	k := a.stripe[i]
	if a.count != nil {
		a.count[k]++
	} else {
		a.heaps[k] = heapPush(a.heaps[k], i, a.seqOf)
	}
	a.touch(k)
}

// leave removes tombstone i.
func (a *active) leave(i int32) {
	if a.count != nil {
		a.count[a.stripe[i]]--
	} else {
		a.ended[i] = true
	}
	a.touch(a.stripe[i])
}

// settle brings present, n and top up to date with the tombstones that
// entered and left, and reports whether they changed: whether the piece's
// sequence numbers differ from the previous piece's.
func (a *active) settle() (changed bool) {
	for _, k := range a.dirty {
		a.isDirty[k] = false
		var has bool
		var newest base.SeqNum
		if a.count != nil {
			has, newest = a.count[k] > 0, a.stripeSeq[k]
		} else {
			h := a.heaps[k]
			for len(h) > 0 && a.ended[h[0]] {
				h = heapPop(h, a.seqOf)
			}
			a.heaps[k] = h
			if has = len(h) > 0; has {
				newest = a.seqOf(h[0])
			}
		}
		was := a.present.has(int(k))
		switch {
		case has && !was:
			a.present.set(int(k))
			a.n++
			a.top[k], changed = newest, true
		case has && a.top[k] != newest:
			a.top[k], changed = newest, true
		case !has && was:
			a.present.clear(int(k))
			a.n--
			changed = true
		}
	}
	a.dirty = a.dirty[:0]
	return changed
}

// appendSeqs appends the newest sequence number of each stripe in
// present to dst, newest first.
func (a *active) appendSeqs(dst []base.SeqNum) []base.SeqNum {
	for k := a.present.prev(len(a.top) - 1); k >= 0; k = a.present.prev(k - 1) {
		dst = append(dst, a.top[k])
	}
	return dst
}
