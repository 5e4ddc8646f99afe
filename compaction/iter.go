package compaction

import (
	"sort"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/rangedel"
)

// iter walks the merged inputs of a compaction and yields only the versions
// some reader may still see:
//
//   - Open snapshots cut sequence numbers into stripes: a version is in
//     stripe i when i snapshots are older than it. A reader at a snapshot
//     sees, of each key, only the newest version at or below its sequence
//     number, so of each stripe only the newest version of a key survives
//     (current readers are the newest stripe).
//
//   - A tombstone in stripe 0 — every reader sees it or something newer —
//     is dropped too when nothing below the output level can hold the key:
//     there is nothing left for it to hide. The older versions of its stripe
//     go with it.
//
//   - A version is dropped when a range tombstone of its stripe covers it
//     and is newer: every reader that could see the version sees the
//     tombstone too.
//
// Versions arrive newest first for each user key (internal-key order), so
// one pass decides.
type iter struct {
	cmp      base.Compare
	in       base.InternalIterator
	snaps    []base.SeqNum // ascending
	elidable func(userKey []byte) bool
	spans    []rangedel.Span // the inputs' range tombstones, fragmented
	span     int             // spans before this one end at or below the current key

	curUser    []byte // user key of the versions being decided
	lastStripe int    // stripe of the last version kept or dropped for curUser
	started    bool

	seen, dropped int64
}

func newIter(cmp base.Compare, in base.InternalIterator, snaps []base.SeqNum, elidable func([]byte) bool, spans []rangedel.Span) *iter {
	return &iter{cmp: cmp, in: in, snaps: snaps, elidable: elidable, spans: spans}
}

func (it *iter) first() bool { return it.settle(it.in.First()) }

func (it *iter) next() bool { return it.settle(it.in.Next()) }

// settle skips forward to the next version to keep.
func (it *iter) settle(ok bool) bool {
	for ; ok; ok = it.in.Next() {
		k := it.in.Key()
		it.seen++
		if !it.started || it.cmp(k.UserKey, it.curUser) != 0 {
			it.curUser = append(it.curUser[:0], k.UserKey...)
			it.lastStripe = -1
			it.started = true
		}
		stripe := it.stripe(k.SeqNum())
		if stripe == it.lastStripe {
			it.dropped++ // shadowed by a newer version every reader of this stripe sees
			continue
		}
		if it.rangeDeleted(k.UserKey, k.SeqNum(), stripe) {
			it.dropped++ // every reader that could see it sees a range tombstone over it
			continue
		}
		it.lastStripe = stripe
		if k.Kind() == base.KindDelete && stripe == 0 && it.elidable(k.UserKey) {
			it.dropped++
			continue
		}
		return true
	}
	return false
}

// rangeDeleted reports whether a range tombstone in the same stripe as the
// version userKey#seq covers it and is newer. Keys arrive in increasing
// order, so the span cursor only moves forward.
func (it *iter) rangeDeleted(userKey []byte, seq base.SeqNum, stripe int) bool {
	for it.span < len(it.spans) && it.cmp(it.spans[it.span].End, userKey) <= 0 {
		it.span++
	}
	if it.span == len(it.spans) || it.cmp(it.spans[it.span].Start, userKey) > 0 {
		return false
	}
	// The oldest tombstone newer than the version is in the lowest stripe
	// above it; if that is the version's own stripe, it deletes it there.
	seqs := it.spans[it.span].Seqs // newest first
	i := sort.Search(len(seqs), func(i int) bool { return seqs[i] <= seq })
	return i > 0 && it.stripe(seqs[i-1]) == stripe
}

// stripe returns how many snapshots are older than seq.
func (it *iter) stripe(seq base.SeqNum) int { return stripeOf(it.snaps, seq) }

func (it *iter) key() base.InternalKey { return it.in.Key() }
func (it *iter) value() []byte         { return it.in.Value() }
func (it *iter) err() error            { return it.in.Error() }
