package iterator

import (
	"fmt"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/rangedel"
)

// VisibleIter is the user's view of an internal iterator: for each user key
// k with lower <= k < upper, it yields the newest version whose sequence
// number is at most seq — unless that version is a tombstone, in which case
// k is skipped. Versions newer than seq are invisible, as if not yet
// written.
//
// Moving forward, the inner iterator is positioned at the entry returned:
// the newest visible version of a user key comes first among its versions,
// so Key and Value point straight into the inner iterator. Moving backward
// the versions of a user key come oldest first, and only the entry before
// them (a smaller user key) says that the newest has been seen; by then the
// inner iterator has moved past the entry to return, so Prev copies its key
// and value into buffers the VisibleIter owns. In both directions Key and
// Value are valid until the next positioning call.
//
// Invariant, moving forward: the inner iterator is at the returned entry.
// Moving backward: it is at the last entry before every version of the
// returned user key (an entry of a smaller user key, or one below the lower
// bound), or exhausted.
type VisibleIter struct {
	cmp          base.Compare
	inner        base.InternalIterator
	seq          base.SeqNum
	lower, upper []byte
	rangeDels    []*rangedel.List // the view's range tombstones; none when empty

	dir   direction
	valid bool
	err   error
	key   []byte // the current user key
	value []byte // the current value

	// keyBuf holds the current key moving backward, and the key being
	// stepped over moving forward. valBuf holds the current value moving
	// backward.
	keyBuf, valBuf []byte
}

// NewVisible returns an unpositioned view of it at sequence number seq,
// restricted to the user keys in [lower, upper); a nil bound is unbounded.
// The VisibleIter owns it (Close closes it) and keeps references to lower
// and upper, which the caller must not change.
func NewVisible(cmp base.Compare, it base.InternalIterator, seq base.SeqNum, lower, upper []byte) *VisibleIter {
	v := new(VisibleIter)
	v.Init(cmp, it, seq, lower, upper)
	return v
}

// Init makes v what NewVisible returns, reusing v's buffers (a closed
// VisibleIter's, or a zero one).
func (v *VisibleIter) Init(cmp base.Compare, it base.InternalIterator, seq base.SeqNum, lower, upper []byte) {
	*v = VisibleIter{cmp: cmp, inner: it, seq: seq, lower: lower, upper: upper, keyBuf: v.keyBuf[:0], valBuf: v.valBuf[:0]}
}

// SetRangeDels makes the iterator hide every version a range tombstone of
// lists deletes: one newer than the version, at or below the iterator's
// sequence number, covering its key. Call it before the first positioning
// call.
func (v *VisibleIter) SetRangeDels(lists []*rangedel.List) { v.rangeDels = lists }

// rangeDeleted reports whether a range tombstone hides the version k.
func (v *VisibleIter) rangeDeleted(k base.InternalKey) bool {
	return len(v.rangeDels) > 0 && rangedel.AnyDeletes(v.rangeDels, k.UserKey, k.SeqNum(), v.seq)
}

// fail records the first error and reports false.
func (v *VisibleIter) fail(err error) bool {
	if v.err == nil {
		v.err = err
	}
	v.valid = false
	return false
}

// exhausted ends a move that found nothing: the inner iterator stopped
// either at the end of its data or on an error.
func (v *VisibleIter) exhausted() bool {
	v.valid = false
	if !v.inner.Valid() {
		if err := v.inner.Error(); err != nil {
			return v.fail(err)
		}
	}
	return false
}

// First moves to the first visible key >= lower.
func (v *VisibleIter) First() bool {
	if v.lower != nil {
		return v.SeekGE(v.lower)
	}
	if v.err != nil {
		return false
	}
	v.dir = forward
	v.inner.First()
	return v.findNext()
}

// Last moves to the last visible key < upper.
func (v *VisibleIter) Last() bool {
	if v.upper != nil {
		return v.SeekLT(v.upper)
	}
	if v.err != nil {
		return false
	}
	v.dir = backward
	v.inner.Last()
	return v.findPrev()
}

// SeekGE moves to the first visible key >= key (and >= lower). key is not
// retained.
func (v *VisibleIter) SeekGE(key []byte) bool {
	if v.err != nil {
		return false
	}
	if v.lower != nil && v.cmp(key, v.lower) < 0 {
		key = v.lower
	}
	v.dir = forward
	if v.upper != nil && v.cmp(key, v.upper) >= 0 {
		v.valid = false
		return false
	}
	// The search key sorts after the versions of key newer than seq.
	v.inner.SeekGE(base.SearchKey(key, v.seq))
	return v.findNext()
}

// SeekLT moves to the last visible key < key (and < upper). key is not
// retained.
func (v *VisibleIter) SeekLT(key []byte) bool {
	if v.err != nil {
		return false
	}
	if v.upper != nil && v.cmp(key, v.upper) > 0 {
		key = v.upper
	}
	v.dir = backward
	if v.lower != nil && v.cmp(key, v.lower) <= 0 {
		v.valid = false
		return false
	}
	// The newest possible version of key sorts before all of its versions,
	// so this lands on the last entry of a smaller user key.
	v.inner.SeekLT(base.SearchKey(key, base.SeqNumMax))
	return v.findPrev()
}

// Next moves to the next visible key. It returns false, doing nothing, if
// the iterator is not positioned.
func (v *VisibleIter) Next() bool {
	if !v.valid {
		return false
	}
	if v.dir == backward {
		// The inner iterator is before the versions of the current key
		// (which is in keyBuf): step to the first entry past them.
		v.dir = forward
		ok := v.inner.Valid()
		if ok {
			ok = v.inner.Next()
		} else {
			ok = v.inner.First()
		}
		for ok && v.cmp(v.inner.Key().UserKey, v.key) <= 0 {
			ok = v.inner.Next()
		}
		return v.findNext()
	}
	v.skipVersions(v.key)
	return v.findNext()
}

// Prev moves to the previous visible key. It returns false, doing nothing,
// if the iterator is not positioned.
func (v *VisibleIter) Prev() bool {
	if !v.valid {
		return false
	}
	if v.dir == forward {
		// The inner iterator is at the newest visible version of the
		// current key. The entries just before it are the key's newer
		// versions, all invisible, which findPrev steps over like any
		// invisible entry; so one step back is enough.
		v.dir = backward
		v.inner.Prev()
	}
	return v.findPrev()
}

// skipVersions steps the inner iterator forward past every version of
// userKey, which it is at. userKey may point into the inner iterator: it is
// copied first.
func (v *VisibleIter) skipVersions(userKey []byte) {
	v.keyBuf = append(v.keyBuf[:0], userKey...)
	ok := v.inner.Next()
	for ok && v.cmp(v.inner.Key().UserKey, v.keyBuf) == 0 {
		ok = v.inner.Next()
	}
}

// findNext moves forward from the inner iterator's position (included) to
// the newest visible version of the first user key, below upper, whose
// newest visible version is not a tombstone.
func (v *VisibleIter) findNext() bool {
	for v.inner.Valid() {
		k := v.inner.Key()
		if v.upper != nil && v.cmp(k.UserKey, v.upper) >= 0 {
			break
		}
		if k.SeqNum() > v.seq {
			v.inner.Next() // invisible
			continue
		}
		switch k.Kind() {
		case base.KindSet:
			if v.rangeDeleted(k) {
				v.skipVersions(k.UserKey) // and the older versions with it
				continue
			}
			v.key, v.value, v.valid = k.UserKey, v.inner.Value(), true
			return true
		case base.KindDelete:
			// The newest visible version is a tombstone: the key is gone.
			v.skipVersions(k.UserKey)
		default:
			return v.fail(fmt.Errorf("iterator: %s has an unknown kind", k))
		}
	}
	return v.exhausted()
}

// findPrev moves backward from the inner iterator's position (included).
// It scans the versions of one user key oldest first, remembering the
// newest visible one; the first entry of a smaller user key (or below
// lower) ends the scan. A tombstone forgets the versions before it, so a
// key whose newest visible version is a tombstone yields nothing and the
// scan goes on to the next smaller key.
func (v *VisibleIter) findPrev() bool {
	v.valid = false
	for v.inner.Valid() {
		k := v.inner.Key()
		if v.lower != nil && v.cmp(k.UserKey, v.lower) < 0 {
			break
		}
		if v.valid && v.cmp(k.UserKey, v.keyBuf) != 0 {
			break // the versions of the candidate are behind us
		}
		if k.SeqNum() <= v.seq {
			switch k.Kind() {
			case base.KindSet:
				if v.rangeDeleted(k) {
					v.valid = false // as if a tombstone: older versions are gone
					break
				}
				if !v.valid {
					v.keyBuf = append(v.keyBuf[:0], k.UserKey...)
					v.valid = true
				}
				v.valBuf = append(v.valBuf[:0], v.inner.Value()...)
			case base.KindDelete:
				v.valid = false
			default:
				return v.fail(fmt.Errorf("iterator: %s has an unknown kind", k))
			}
		}
		v.inner.Prev()
	}
	if !v.valid {
		return v.exhausted()
	}
	if !v.inner.Valid() && v.inner.Error() != nil {
		return v.fail(v.inner.Error())
	}
	v.key, v.value = v.keyBuf, v.valBuf
	return true
}

// Valid reports whether the iterator is positioned at a key.
func (v *VisibleIter) Valid() bool { return v.valid }

// Key returns the current user key, or nil when the iterator is not
// positioned. It is valid until the next positioning call.
func (v *VisibleIter) Key() []byte {
	if !v.valid {
		return nil
	}
	return v.key
}

// Value returns the current value, or nil when the iterator is not
// positioned. It is valid until the next positioning call.
func (v *VisibleIter) Value() []byte {
	if !v.valid {
		return nil
	}
	return v.value
}

// Error returns the first error met, from the inner iterator or from an
// entry of unknown kind. A positioning method that returned false with a
// nil Error found no more visible keys.
func (v *VisibleIter) Error() error { return v.err }

// Close closes the inner iterator and returns the first error met.
func (v *VisibleIter) Close() error {
	err := v.inner.Close()
	if v.err != nil {
		err = v.err
	}
	// Drop every reference into the view (its memory may be freed); keep
	// the buffers for Init.
	*v = VisibleIter{keyBuf: v.keyBuf[:0], valBuf: v.valBuf[:0]}
	return err
}
