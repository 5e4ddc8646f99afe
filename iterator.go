package dkv

import (
	"bytes"
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/iterator"
	"github.com/distributedkv/dkv/internal/rangedel"
	"github.com/distributedkv/dkv/manifest"
)

// IterOptions bound an iterator to the keys in [LowerBound, UpperBound). A
// nil or empty bound is unbounded. The iterator keeps references to the
// bounds: do not change them while it is open.
type IterOptions struct {
	LowerBound []byte
	UpperBound []byte
}

// Iterator walks the keys of a point-in-time view of the database, in
// either direction: the view as of NewIter (or of the Snapshot it came
// from), whatever is written, flushed or compacted afterwards. Deleted
// keys do not appear.
//
// The positioning methods (First, Last, SeekGE, SeekLT, Next, Prev) return
// whether the iterator is at a key; Valid says the same afterwards. Key and
// Value return slices valid only until the next positioning call or Close:
// copy what you keep. When a positioning method returns false, Error tells
// the end of the range (nil) from a failure (for instance ErrCorruption).
//
// An Iterator pins the tables and memtables of its view until Close, and the
// blocks it is positioned in, whose memory is outside the Go heap: close it
// when done, or that memory is never freed.
// It is not safe for concurrent use. Once it is closed, or its DB is, the
// positioning methods return false and Error returns an error matching
// ErrClosed: a closed iterator never reads as an empty range.
type Iterator struct {
	db     *DB
	rs     *readState
	vis    *iterator.VisibleIter
	parts  *iterParts // vis and what it reads from; nil once closed
	err    error
	closed bool
	// sampleIn counts down the work (bytes) left before the iterator's
	// next read sample (see sampled); only an iterator whose view has L0
	// tables (hasL0) samples.
	hasL0    bool
	sampleIn int
}

// NewIter returns an iterator over the database as of now, within the
// bounds of o (nil: unbounded).
func (db *DB) NewIter(o *IterOptions) (*Iterator, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.newIter(o, nil)
}

// newIter builds an iterator at a snapshot's sequence number, or the latest
// (snapshot nil; loaded after the read state, as get explains): a merge of
// the memtables, the L0 tables, and one concatenation per deeper level,
// under a visibility filter.
func (db *DB) newIter(o *IterOptions, snapshot *base.SeqNum) (*Iterator, error) {
	var lower, upper []byte
	if o != nil {
		lower, upper = o.LowerBound, o.UpperBound
	}
	// No key is empty, so an empty bound bounds nothing: it means
	// unbounded, as nil does (the package doc promises it).
	if len(lower) == 0 {
		lower = nil
	}
	if len(upper) == 0 {
		upper = nil
	}
	if lower != nil && upper != nil && db.comparer.Compare(lower, upper) > 0 {
		return nil, fmt.Errorf("%w: iterator lower bound %q is above its upper bound %q", ErrInvalidArgument, lower, upper)
	}
	rs := db.loadReadState()
	if rs == nil {
		return nil, ErrClosed
	}
	seq := db.readSeq(snapshot)
	parts := iterPartsPool.Get().(*iterParts)
	children := parts.children[:0]
	fail := func(err error) (*Iterator, error) {
		for _, c := range children {
			_ = c.Close()
		}
		parts.release(children)
		rs.unref()
		return nil, err
	}
	children = append(children, rs.mem.NewIter())
	for _, m := range rs.imm {
		children = append(children, m.NewIter())
	}
	v := rs.version
	for _, f := range v.Levels[0] {
		if f.SmallestSeq > seq || !overlapsBounds(db.comparer.Compare, f.Smallest.UserKey, f.Largest.UserKey, lower, upper) {
			continue
		}
		it, err := db.newTableIter(f)
		if err != nil {
			return fail(err)
		}
		children = append(children, it)
	}
	for level := 1; level < len(v.Levels); level++ {
		if len(v.Levels[level]) > 0 {
			children = append(children, db.newLevelIter(v, level))
		}
	}
	rangeDels, err := db.viewRangeDels(rs, seq, lower, upper)
	if err != nil {
		return fail(err)
	}
	parts.children = children
	parts.merging.Init(db.comparer.Compare, children...)
	parts.vis.Init(db.comparer.Compare, &parts.merging, seq, lower, upper)
	parts.vis.SetRangeDels(rangeDels)
	it := &Iterator{db: db, rs: rs, vis: &parts.vis, parts: parts, hasL0: len(v.Levels[0]) > 0}
	if it.hasL0 {
		it.sampleIn = rand.IntN(readSamplePeriod) // short iterators sample in proportion too
	}
	db.iterators.Add(1)
	return it, nil
}

// iterParts are the iterators an Iterator is built of, recycled together:
// a short-lived Iterator (a seek and a few steps) would otherwise allocate
// them, and the children's slice, each time. The Iterator handle itself is
// not recycled, so that a second Close of a handle cannot close an
// iterator someone else got from the pool.
type iterParts struct {
	vis      iterator.VisibleIter
	merging  iterator.MergingIter
	children []base.InternalIterator
}

var iterPartsPool = sync.Pool{New: func() any { return new(iterParts) }}

// release gives the parts back, once children (the slice in use, closed)
// are dropped.
func (p *iterParts) release(children []base.InternalIterator) {
	clear(children)
	p.children = children[:0]
	iterPartsPool.Put(p)
}

// closedVis is what a closed Iterator's Key and Value read: nothing.
var closedVis iterator.VisibleIter

// viewRangeDels gathers the range tombstone lists of a view that can
// matter within [lower, upper): those of the memtables and of the tables
// that have some (HasRangeDels; most have none and are not opened). The
// iterator searches them per key; nothing is merged here, so a short-lived
// iterator pays only for the lists it gathers. It returns nil when the
// view has no range tombstone.
func (db *DB) viewRangeDels(rs *readState, seq base.SeqNum, lower, upper []byte) ([]*rangedel.List, error) {
	cmp := db.comparer.Compare
	var lists []*rangedel.List // stays nil, allocating nothing, in the common case
	if l := rs.mem.RangeDels(); !l.Empty() {
		lists = append(lists, l)
	}
	for _, m := range rs.imm {
		if l := m.RangeDels(); !l.Empty() {
			lists = append(lists, l)
		}
	}
	for _, files := range rs.version.Levels {
		for _, f := range files {
			if !f.HasRangeDels || f.SmallestSeq > seq || !overlapsBounds(cmp, f.Smallest.UserKey, f.Largest.UserKey, lower, upper) {
				continue
			}
			r, release, err := db.tableCache.get(f)
			if err != nil {
				return nil, err
			}
			lists = append(lists, r.RangeDels()) // immutable: kept after release
			release()
		}
	}
	return lists, nil
}

// overlapsBounds reports whether [smallest, largest] meets [lower, upper).
func overlapsBounds(cmp base.Compare, smallest, largest, lower, upper []byte) bool {
	if lower != nil && cmp(largest, lower) < 0 {
		return false
	}
	return upper == nil || cmp(smallest, upper) < 0
}

// usable reports whether the iterator may move: not closed, no error, and
// its DB open (a DB closed under it stops it with ErrClosed).
func (it *Iterator) usable() bool {
	if it.closed || it.err != nil {
		return false
	}
	if it.db.closed.Load() {
		it.err = ErrClosed
		return false
	}
	return true
}

// First moves to the first key (at or above the lower bound).
func (it *Iterator) First() bool { return it.sampled(it.usable() && it.vis.First(), seekWork) }

// Last moves to the last key (below the upper bound).
func (it *Iterator) Last() bool { return it.sampled(it.usable() && it.vis.Last(), seekWork) }

// SeekGE moves to the first key at or above key.
func (it *Iterator) SeekGE(key []byte) bool {
	return it.sampled(it.usable() && it.vis.SeekGE(key), seekWork)
}

// SeekLT moves to the last key below key.
func (it *Iterator) SeekLT(key []byte) bool {
	return it.sampled(it.usable() && it.vis.SeekLT(key), seekWork)
}

// Next moves to the next key.
func (it *Iterator) Next() bool { return it.sampled(it.usable() && it.vis.Next(), 0) }

// Prev moves to the previous key.
func (it *Iterator) Prev() bool { return it.sampled(it.usable() && it.vis.Prev(), 0) }

// Iterators charge L0 tables for the reads they make pay, as point reads
// do (see getFromTables and compaction.PickRead), by sampling: after every
// readSamplePeriod bytes of work — the keys and values it steps over, and
// seekWork for each positioning, which reads about a block in every
// source — an iterator looks at its current key, and if an L0 table and
// another table both hold that key's range, the newest such L0 table is
// charged a wasted read. LevelDB samples its iterators the same way, with
// the same 1 MiB period.
const (
	readSamplePeriod = 1 << 20
	seekWork         = 4 << 10
)

// sampled counts the work of a move that landed (ok) and takes a read
// sample when it is due. It returns ok.
func (it *Iterator) sampled(ok bool, work int) bool {
	if !ok || !it.hasL0 {
		return ok
	}
	it.sampleIn -= work + len(it.vis.Key()) + len(it.vis.Value())
	if it.sampleIn <= 0 {
		it.sampleIn += readSamplePeriod
		it.db.sampleRead(it.rs.version.Version, it.vis.Key())
	}
	return ok
}

// sampleRead charges the newest L0 table whose range holds key if another
// table's range (in L0 or below) holds it too: a read of key had to merge
// both.
func (db *DB) sampleRead(v *manifest.Version, key []byte) {
	cmp := db.comparer.Compare
	var first *manifest.FileMetadata
	for _, f := range v.Levels[0] {
		if !f.ContainsUserKey(cmp, key) {
			continue
		}
		if first != nil {
			db.chargeWastedRead(first)
			return
		}
		first = f
	}
	if first == nil {
		return
	}
	for level := 1; level < manifest.NumLevels; level++ {
		files := v.Levels[level]
		if i := manifest.FindFile(cmp, files, key); i < len(files) && files[i].ContainsUserKey(cmp, key) {
			db.chargeWastedRead(first)
			return
		}
	}
}

// Valid reports whether the iterator is at a key.
func (it *Iterator) Valid() bool { return it.usable() && it.vis.Valid() }

// Key returns the current key, valid until the next move.
func (it *Iterator) Key() []byte { return it.vis.Key() }

// Value returns the current value, valid until the next move.
func (it *Iterator) Value() []byte { return it.vis.Value() }

// Error returns the error that stopped the iterator, if any: nil at the
// end of the range, an error matching ErrClosed once the iterator or its
// DB is closed.
func (it *Iterator) Error() error {
	if it.closed {
		return errIteratorClosed
	}
	if it.err != nil {
		return it.err
	}
	return it.vis.Error()
}

// All returns the iterator's keys and values from the first (at or above
// the lower bound) to the last, for a range-over-func loop:
//
//	for k, v := range it.All() {
//		...
//	}
//	if err := it.Error(); err != nil { ... }
//
// Like Key and Value, k and v are valid only until the next step of the
// loop: copy what you keep. A loop that ends early leaves the iterator at
// the key it stopped at. Check Error after the loop: a failure ends it
// like the end of the range does.
func (it *Iterator) All() iter.Seq2[[]byte, []byte] {
	return func(yield func(k, v []byte) bool) {
		for ok := it.First(); ok; ok = it.Next() {
			if !yield(it.Key(), it.Value()) {
				return
			}
		}
	}
}

// Close releases the iterator's tables and returns the first error it met
// (ErrClosed if it was used after its DB closed). A second Close does
// nothing and returns nil.
func (it *Iterator) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	err := it.err
	if err == nil {
		err = it.vis.Error()
	}
	if cerr := it.vis.Close(); err == nil {
		err = cerr
	}
	it.parts.release(it.parts.children)
	it.vis, it.parts = &closedVis, nil
	it.rs.unref()
	it.db.iterators.Add(-1)
	return err
}

// PrefixBounds returns the bounds of the keys that start with prefix, for
// IterOptions: [prefix, the first key above every key with the prefix).
// upper is nil (unbounded) when no such key exists (a prefix of 0xff
// bytes).
func PrefixBounds(prefix []byte) (lower, upper []byte) {
	lower = bytes.Clone(prefix)
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			upper = append(bytes.Clone(prefix[:i]), prefix[i]+1)
			return lower, upper
		}
	}
	return lower, nil
}
