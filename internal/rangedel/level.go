package rangedel

import (
	"sync"

	"github.com/distributedkv/dkv/internal/base"
)

// A List of tombstones is kept in levels, so that a memtable adding
// tombstones between reads does not rebuild its List from all of them
// each time (issue 13's queue read as it goes: O(n² log n)).
//
// The answer to "the newest tombstone at or below r covering key" is a
// maximum, so it may be taken over any partition of the tombstones: each
// part answers for its own, and the newest answer wins. The parts are the
// levels: consecutive runs of the tombstones, in the order they were
// given, each a static structure built once (a level: its spans for
// readers at or above its newest tombstone, and for older readers a
// history, built by the first to ask).
//
// The invariant: each level holds at least twice as many tombstones as
// the next (newer) one, so n tombstones make at most log₂ n + 1 levels.
// Extend adds the new tombstones as one level and merges it with the
// newer levels that are not at least twice its size, repeatedly: the
// merged levels are rebuilt together, once. A tombstone rebuilt in a
// merge lands in a level at least 1.5 times the size of its old one (the
// level it was in was less than twice the rest of the merge), so over n
// tombstones each is built into at most 1 + log₁.₅ n levels: O(n log n)
// tombstones built in all, O(n log² n) time with the O(m log m) cost of
// building a level of m (and of its history, when asked for). A lookup
// asks each level, O(log n) of them, in O(log n) for a reader at or above
// the level's newest tombstone (its spans) and O(log² n) below it (its
// history); levels whose tombstones are all above the reader, or none
// newer than the best answer so far, are skipped. When sequence numbers
// ascend in the order the tombstones come, as a memtable's do, the levels
// hold disjoint ranges of sequence numbers, so a reader is below the
// newest tombstone of at most one level it asks: O(log² n) a lookup,
// whatever the reader's sequence number (O(log³ n) at worst otherwise).
//
// When tombstones come one at a time, the levels are those of a binary
// counter: sizes the powers of two in n.

// level is one run of a List's tombstones, built once.
type level struct {
	ts             []Tombstone
	spans          []Span      // FragmentFor(cmp, ts, nil): for readers at or above newest
	oldest, newest base.SeqNum // of the tombstones with a non-empty range

	once    sync.Once
	history *history // for readers below newest, built by the first
}

func newLevel(cmp base.Compare, ts []Tombstone) *level {
	lv := &level{ts: ts, spans: FragmentFor(cmp, ts, nil), oldest: never}
	for _, t := range ts {
		if cmp(t.Start, t.End) < 0 {
			lv.oldest, lv.newest = min(lv.oldest, t.Seq), max(lv.newest, t.Seq)
		}
	}
	return lv
}

// covering is List.Covering over the level.
func (lv *level) covering(cmp base.Compare, key []byte, seq base.SeqNum) (base.SeqNum, bool) {
	if len(lv.spans) == 0 {
		return 0, false
	}
	if seq < lv.newest {
		lv.once.Do(func() { lv.history = newHistory(cmp, lv.ts) })
		return lv.history.covering(key, seq)
	}
	return coveringIn(cmp, lv.spans, key, seq)
}

// Extend returns a List of the tombstones ts, of which l holds a prefix:
// l is nil, empty, or was made by NewListOf or Extend of ts[:l.Len()] —
// the same tombstones, which must not change (a memtable's, which only
// appends). The new List answers Covering exactly at every sequence
// number, as NewListOf(cmp, ts) does; it shares l's levels but the newest
// few, which it merges with the tombstones added (see level), so that a
// List extended by one tombstone at a time costs O(log² n) amortised per
// tombstone, O(n log² n) in all, instead of the O(n log n) per step of
// building it anew.
//
// l does not change: a reader holding it goes on reading the tombstones
// it had, concurrently with Extend.
func (l *List) Extend(cmp base.Compare, ts []Tombstone) *List {
	var old []*level
	if l != nil {
		if l.levels == nil && l.live > 0 {
			panic("rangedel: Extend of a List made by NewList")
		}
		old = l.levels
	}
	k := l.Len()
	if k > len(ts) {
		panic("rangedel: Extend with fewer tombstones than the List holds")
	}
	if k == len(ts) && l != nil && l.levels != nil {
		return l
	}
	// Merge the newest levels that are not at least twice the size of
	// what they would be merged into.
	j, size := len(old), len(ts)-k
	for j > 0 && len(old[j-1].ts) < 2*size {
		j--
		size += len(old[j].ts)
	}
	levels := make([]*level, j, j+1)
	copy(levels, old[:j]) // a new slice: l's stays as it was
	if size > 0 {
		levels = append(levels, newLevel(cmp, ts[len(ts)-size:len(ts):len(ts)]))
	}
	out := &List{cmp: cmp, levels: levels, ts: ts[:len(ts):len(ts)]}
	for _, lv := range levels {
		out.live += len(lv.spans)
	}
	if len(levels) == 1 {
		out.spans, out.exact = levels[0].spans, levels[0].newest
	}
	return out
}
