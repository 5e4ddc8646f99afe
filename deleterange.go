package dkv

import (
	"bytes"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/memtable"
)

// Range deletions without an end.
//
// A range tombstone needs an end key, and there is no key above every
// other. So a DeleteRange with an unbounded end is written into its batch
// with an empty end (never a key: keys are not empty), and the write fixes
// it under db.commit, just before the batch takes its sequence numbers:
// the end becomes the first key past the largest key the database holds
// and the batch's earlier operations write. Every version such a tombstone
// can delete is older than it, so it is in the database or earlier in the
// batch when the end is fixed, and below that end: for all it can delete,
// the fixed end and no end are the same. The log, the memtable and the
// tables only ever see the fixed end.

// DeleteRange deletes every key k with start <= k < end, in time and space
// independent of how many keys the range holds: it writes one range
// tombstone (see Batch.DeleteRange). A nil start or end is unbounded. Keys
// written afterwards are not deleted. An empty range is a no-op; start
// above end is an error.
func (db *DB) DeleteRange(start, end []byte) error {
	b := getBatch()
	defer putBatch(b)
	if err := b.DeleteRange(start, end); err != nil {
		return err
	}
	return db.write(b, !db.opts.NoSync, nil) // an empty batch: only the checks
}

// resolveOpenEnds returns a copy of the batch encoding repr in which every
// range deletion without an end ends past the largest key of the database
// and of the operations before it. db.commit is held, so nothing is
// written meanwhile.
func (db *DB) resolveOpenEnds(repr []byte) []byte {
	_, _, r, err := decodeBatchHeader(repr)
	out := make([]byte, batchHeaderSize, len(repr)+64)
	copy(out, repr[:batchHeaderSize])
	largest := db.largestKey() // nil: no key
	for err == nil {
		var op batchOp
		var ok bool
		if op, ok, err = r.next(); !ok {
			break
		}
		end := op.Value
		switch {
		case op.Kind == base.KindRangeDelete && len(end) == 0:
			end = keyAbove(op.Key, largest)
		case op.Kind != base.KindRangeDelete && bytes.Compare(op.Key, largest) > 0:
			largest = op.Key
		}
		out = appendOp(out, op.Kind, op.Key, end)
	}
	if err != nil {
		panic("dkv: resolving a batch built by Batch: " + err.Error())
	}
	return out
}

// keyAbove returns an end for a tombstone from start that covers every key
// up to largest: the shortest key above largest and every key it
// prefixes, or just above start when largest is below it (nothing there
// to delete; the range must not be empty).
func keyAbove(start, largest []byte) []byte {
	k := largest
	if bytes.Compare(k, start) < 0 {
		k = start
	}
	if _, upper := PrefixBounds(k); upper != nil {
		return upper
	}
	return append(bytes.Clone(k), 0) // k is all 0xff bytes
}

// largestKey returns the largest user key of any version the database
// holds, in its memtables or its tables (a table's bound may be a range
// tombstone's end: larger is fine), or nil when it holds none.
func (db *DB) largestKey() []byte {
	rs := db.loadReadState()
	if rs == nil {
		return nil // closed: the write that asked fails before it is logged
	}
	defer rs.unref()
	var largest []byte
	consider := func(k []byte) {
		if bytes.Compare(k, largest) > 0 {
			largest = bytes.Clone(k)
		}
	}
	mems := append([]*memtable.MemTable{rs.mem}, rs.imm...)
	for _, m := range mems {
		it := m.NewIter()
		if it.Last() {
			consider(it.Key().UserKey)
		}
		_ = it.Close()
	}
	for level, files := range rs.version.Levels {
		switch {
		case len(files) == 0:
		case level == 0:
			for _, f := range files {
				consider(f.Largest.UserKey)
			}
		default:
			consider(files[len(files)-1].Largest.UserKey)
		}
	}
	return largest
}
