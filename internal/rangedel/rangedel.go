// Package rangedel holds range tombstones in the form reads and compactions
// use: fragments.
//
// A range tombstone deletes the user keys in [Start, End) at every sequence
// number below its own. Tombstones may overlap each other in any way, which
// makes "which tombstones cover key k?" a search over all of them. So they
// are fragmented first: cut at every start and end key into spans that
// never overlap, each span carrying the sequence numbers of every tombstone
// that covers it, newest first. Then a lookup is one binary search:
//
//	tombstones  [b, f)#7   [d, h)#4
//	fragments   [b, d)#7   [d, f)#7,4   [f, h)#4
//
// A point version k#s is deleted as of sequence number r when the span
// holding k has a sequence number t with s < t <= r.
//
// The package is used by the memtable (its tombstones, fragmented on
// demand), the sstable package (a table's range-deletion block holds the
// fragments of its tombstones), reads and iterators (one search per source
// of a view: AnyDeletes), and compaction (fragments cut at
// output boundaries, sequence numbers no reader needs dropped).
package rangedel

import (
	"fmt"
	"slices"
	"sort"

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

// Fragment cuts tombstones into sorted, non-overlapping spans; tombstones
// with an empty range (Start >= End) delete nothing and are ignored.
// Neighbouring spans with the same sequence numbers are joined. The spans
// refer to the tombstones' key bytes.
func Fragment(cmp base.Compare, ts []Tombstone) []Span {
	var bounds [][]byte
	live := make([]Tombstone, 0, len(ts))
	for _, t := range ts {
		if cmp(t.Start, t.End) < 0 {
			live = append(live, t)
			bounds = append(bounds, t.Start, t.End)
		}
	}
	if len(live) == 0 {
		return nil
	}
	slices.SortFunc(bounds, cmp)
	bounds = slices.CompactFunc(bounds, func(a, b []byte) bool { return cmp(a, b) == 0 })
	slices.SortFunc(live, func(a, b Tombstone) int { return cmp(a.Start, b.Start) })

	var spans []Span
	var active []Tombstone // tombstones covering the current bound
	next := 0              // the first tombstone of live not yet active
	for i := 0; i+1 < len(bounds); i++ {
		lo, hi := bounds[i], bounds[i+1]
		// Tombstones ending at lo leave; those starting at lo join (every
		// start is a bound, so none is skipped).
		active = slices.DeleteFunc(active, func(t Tombstone) bool { return cmp(t.End, lo) <= 0 })
		for next < len(live) && cmp(live[next].Start, lo) <= 0 {
			active = append(active, live[next])
			next++
		}
		if len(active) == 0 {
			continue
		}
		seqs := make([]base.SeqNum, len(active))
		for j, t := range active {
			seqs[j] = t.Seq
		}
		slices.SortFunc(seqs, func(a, b base.SeqNum) int { return -cmpSeq(a, b) })
		seqs = slices.Compact(seqs)
		if n := len(spans); n > 0 && cmp(spans[n-1].End, lo) == 0 && slices.Equal(spans[n-1].Seqs, seqs) {
			spans[n-1].End = hi
			continue
		}
		spans = append(spans, Span{Start: lo, End: hi, Seqs: seqs})
	}
	return spans
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

// List is an immutable set of fragments, searchable by user key. The zero
// List and a nil *List are empty.
type List struct {
	cmp   base.Compare
	spans []Span
}

// NewList returns a List of spans, which must be sorted and must not
// overlap (what Fragment returns, or a table's checked range-deletion
// block). The List keeps spans.
func NewList(cmp base.Compare, spans []Span) *List {
	return &List{cmp: cmp, spans: spans}
}

// Empty reports whether the list holds no span.
func (l *List) Empty() bool { return l == nil || len(l.spans) == 0 }

// Spans returns the spans, in order. Do not modify them.
func (l *List) Spans() []Span {
	if l == nil {
		return nil
	}
	return l.spans
}

// Covering returns the newest sequence number at or below seq of a
// tombstone covering key, and false when no tombstone visible at seq covers
// it.
func (l *List) Covering(key []byte, seq base.SeqNum) (base.SeqNum, bool) {
	if l.Empty() {
		return 0, false
	}
	// The first span ending above key is the only one that can hold it.
	i := sort.Search(len(l.spans), func(i int) bool { return l.cmp(l.spans[i].End, key) > 0 })
	if i == len(l.spans) || l.cmp(l.spans[i].Start, key) > 0 {
		return 0, false
	}
	for _, t := range l.spans[i].Seqs { // newest first
		if t <= seq {
			return t, true
		}
	}
	return 0, false
}

// Deletes reports whether a tombstone visible at readSeq deletes the version
// of key numbered pointSeq: it covers key and is newer than the version.
func (l *List) Deletes(key []byte, pointSeq, readSeq base.SeqNum) bool {
	t, ok := l.Covering(key, readSeq)
	return ok && t > pointSeq
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
