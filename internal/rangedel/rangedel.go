package rangedel

import (
	"fmt"
	"sort"
	"sync"

	"github.com/distributedkv/dkv/internal/base"
)

// Tombstone deletes the user keys in [Start, End) at sequence numbers below
// Seq.
type Tombstone struct {
	Start, End []byte
	Seq        base.SeqNum
}

func (t Tombstone) String() string { return fmt.Sprintf("[%q, %q)#%d", t.Start, t.End, t.Seq) }

// Span is a fragment: the user keys in [Start, End) are covered by
// tombstones with sequence numbers Seqs, in decreasing order, none repeated.
type Span struct {
	Start, End []byte
	Seqs       []base.SeqNum
}

func (s Span) String() string { return fmt.Sprintf("[%q, %q)#%v", s.Start, s.End, s.Seqs) }

// Tombstones returns the tombstones the spans stand for: one per span and
// sequence number. Fragment(Tombstones(spans)) gives the spans back.
func Tombstones(spans []Span) []Tombstone {
	var ts []Tombstone
	for _, s := range spans {
		for _, seq := range s.Seqs {
			ts = append(ts, Tombstone{Start: s.Start, End: s.End, Seq: seq})
		}
	}
	return ts
}

// List is an immutable set of range tombstones, searchable by user key.
// The zero List and a nil *List are empty. A List is safe for concurrent
// use.
//
// A List made by NewList holds fragments and answers from them. A List of
// tombstones (NewListOf, Extend) holds them in levels (see level): a
// lookup asks each level and takes the newest answer.
type List struct {
	cmp base.Compare
	// spans answer readers at or above exact: a NewList's (exact 0), or
	// the one level's (exact its newest tombstone), searched here without
	// going through the level; nil with more levels.
	spans []Span
	exact base.SeqNum

	levels []*level    // NewListOf, Extend: oldest first
	ts     []Tombstone // NewListOf, Extend: every level's, in order
	live   int         // spans over all levels, or len(spans)

	// With more than one level, Spans are built by the first call.
	mergeOnce sync.Once
	merged    []Span
}

// NewList returns a List of spans, which must be sorted and must not
// overlap (what Fragment or FragmentFor returns, or a table's checked
// range-deletion block). The List keeps spans. Its answers are the spans':
// exact for the readers they were fragmented for.
func NewList(cmp base.Compare, spans []Span) *List {
	return &List{cmp: cmp, spans: spans, live: len(spans)}
}

// NewListOf returns a List of the tombstones ts that answers Covering
// exactly at every sequence number, in O(n log n) room for n tombstones
// however they nest — for a memtable, whose readers may read at any
// sequence number. The List keeps ts, which must not change. It is
// Extend of an empty List: one level.
//
// Its Spans are FragmentFor(cmp, ts, nil): the tombstones as a reader at
// or above every one of them sees them, one sequence number per span. A
// reader below the newest tombstone is answered from a history of the
// tombstones (see history), built when the first such reader asks: most
// memtables are only read at or above their newest tombstone.
func NewListOf(cmp base.Compare, ts []Tombstone) *List {
	return (*List)(nil).Extend(cmp, ts)
}

// Empty reports whether the list holds no span.
func (l *List) Empty() bool { return l == nil || l.live == 0 }

// Len returns the number of tombstones of a List made by NewListOf or
// Extend (0 for any other).
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return len(l.ts)
}

// Spans returns the spans, in order. Do not modify them. For a List made
// by NewListOf or Extend they are what a reader at or above every
// tombstone sees (FragmentFor(cmp, ts, nil)), not every sequence number
// Covering can answer with; with more than one level, the first call
// builds them, in O(n log n) — for tests and tools, not for reads.
func (l *List) Spans() []Span {
	switch {
	case l == nil:
		return nil
	case len(l.levels) <= 1:
		return l.spans
	}
	l.mergeOnce.Do(func() { l.merged = FragmentFor(l.cmp, l.ts, nil) })
	return l.merged
}

// Covering returns the newest sequence number at or below seq of a
// tombstone covering key, and false when no tombstone visible at seq covers
// it.
func (l *List) Covering(key []byte, seq base.SeqNum) (base.SeqNum, bool) {
	if l.Empty() {
		return 0, false
	}
	if seq >= l.exact && len(l.levels) <= 1 {
		return coveringIn(l.cmp, l.spans, key, seq)
	}
	var best base.SeqNum
	found := false
	// The newest level first: its answer, when it has one, is the likeliest
	// to make the older levels' irrelevant.
	for i := len(l.levels) - 1; i >= 0; i-- {
		lv := l.levels[i]
		if lv.oldest > seq || (found && lv.newest <= best) {
			continue
		}
		if t, ok := lv.covering(l.cmp, key, seq); ok && (!found || t > best) {
			best, found = t, true
		}
	}
	return best, found
}

// coveringIn is Covering over spans.
func coveringIn(cmp base.Compare, spans []Span, key []byte, seq base.SeqNum) (base.SeqNum, bool) {
	// The first span ending above key is the only one that can hold it.
	i := sort.Search(len(spans), func(i int) bool { return cmp(spans[i].End, key) > 0 })
	if i == len(spans) || cmp(spans[i].Start, key) > 0 {
		return 0, false
	}
	for _, t := range spans[i].Seqs { // newest first
		if t <= seq {
			return t, true
		}
	}
	return 0, false
}

// Deletes reports whether a tombstone visible at readSeq deletes the version
// of key numbered pointSeq: it covers key and is newer than the version.
func (l *List) Deletes(key []byte, pointSeq, readSeq base.SeqNum) bool {
	if l.Empty() {
		return false
	}
	if readSeq >= l.exact && len(l.levels) <= 1 {
		t, ok := coveringIn(l.cmp, l.spans, key, readSeq)
		return ok && t > pointSeq
	}
	// Any level's witness will do: a level whose tombstones are all
	// invisible at readSeq, or none newer than the version, has none.
	for i := len(l.levels) - 1; i >= 0; i-- {
		lv := l.levels[i]
		if lv.oldest > readSeq || lv.newest <= pointSeq {
			continue
		}
		if t, ok := lv.covering(l.cmp, key, readSeq); ok && t > pointSeq {
			return true
		}
	}
	return false
}

// AnyDeletes reports whether a tombstone of any of lists, visible at
// readSeq, deletes the version of key numbered pointSeq. A reader's view
// is a few lists (a memtable's, a table's): searching each costs less than
// merging them up front, which an iterator made for a short seek would pay
// in full.
func AnyDeletes(lists []*List, key []byte, pointSeq, readSeq base.SeqNum) bool {
	for _, l := range lists {
		if l.Deletes(key, pointSeq, readSeq) {
			return true
		}
	}
	return false
}

// Check verifies that spans are well formed: each non-empty, with sequence
// numbers strictly decreasing, and in order without overlap. Decoders use
// it on bytes read from disk.
func Check(cmp base.Compare, spans []Span) error {
	for i, s := range spans {
		if cmp(s.Start, s.End) >= 0 {
			return fmt.Errorf("range tombstone %s is empty", s)
		}
		if len(s.Seqs) == 0 {
			return fmt.Errorf("range tombstone %s has no sequence number", s)
		}
		for j := 1; j < len(s.Seqs); j++ {
			if s.Seqs[j] >= s.Seqs[j-1] {
				return fmt.Errorf("range tombstone %s: sequence numbers out of order", s)
			}
		}
		if i > 0 && cmp(spans[i-1].End, s.Start) > 0 {
			return fmt.Errorf("range tombstones %s and %s overlap or are out of order", spans[i-1], s)
		}
	}
	return nil
}

// Bounds returns the smallest and largest internal keys that spans add to
// a table's key range: the first span's start at its newest sequence
// number, and the exclusive sentinel of the last span's end
// (base.MakeExclusiveSentinel). ok is false when spans is empty.
func Bounds(spans []Span) (smallest, largest base.InternalKey, ok bool) {
	if len(spans) == 0 {
		return base.InternalKey{}, base.InternalKey{}, false
	}
	first, last := spans[0], spans[len(spans)-1]
	return base.MakeInternalKey(first.Start, first.Seqs[0], base.KindRangeDelete), base.MakeExclusiveSentinel(last.End), true
}

// TableBounds returns the key range a table with point keys first to last
// (when points is set) and range tombstone spans records: the points'
// range widened by Bounds. ok is false for a table with neither.
func TableBounds(cmp base.Compare, first, last base.InternalKey, points bool, spans []Span) (smallest, largest base.InternalKey, ok bool) {
	lo, hi, rd := Bounds(spans)
	switch {
	case !points:
		return lo, hi, rd
	case !rd:
		return first, last, true
	}
	if base.InternalCompare(cmp, lo, first) > 0 {
		lo = first
	}
	if base.InternalCompare(cmp, hi, last) < 0 {
		hi = last
	}
	return lo, hi, true
}

// Truncate returns the parts of spans inside [lower, upper) (nil:
// unbounded), cut at the bounds: what one output table of a compaction
// holds. The result refers to the spans' and the bounds' keys.
func Truncate(cmp base.Compare, spans []Span, lower, upper []byte) []Span {
	var out []Span
	for _, s := range spans {
		if lower != nil && cmp(s.End, lower) <= 0 {
			continue
		}
		if upper != nil && cmp(s.Start, upper) >= 0 {
			break
		}
		if lower != nil && cmp(s.Start, lower) < 0 {
			s.Start = lower
		}
		if upper != nil && cmp(s.End, upper) > 0 {
			s.End = upper
		}
		out = append(out, s)
	}
	return out
}
