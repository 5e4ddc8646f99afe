package iterator

import (
	"sort"

	"github.com/distributedkv/dkv/internal/base"
)

// FileBounds are the smallest and largest internal keys of one file of a
// level.
type FileBounds struct {
	Smallest, Largest base.InternalKey
}

// LevelIter iterates the files of one level as a single stream. The files
// are sorted and do not overlap by user key, so their concatenation is in
// internal-key order. Files are opened lazily: at most one is open at a
// time, the one the iterator is positioned in. Leaving a file (moving past
// its end, seeking elsewhere, or running off either end of the level)
// closes it. A file that turns out to be empty is skipped.
type LevelIter struct {
	cmp   base.Compare
	files []FileBounds
	open  func(i int) (base.InternalIterator, error)

	index int                   // of the open file; -1 when none is open
	child base.InternalIterator // the open file's iterator, or nil
	err   error
}

var _ base.InternalIterator = (*LevelIter)(nil)

// NewLevel returns an unpositioned iterator over files, which must be
// sorted and non-overlapping by user key. open(i) returns an iterator over
// file i; the LevelIter closes it when it leaves the file. An error from
// open ends the iteration and is returned by Error. NewLevel opens nothing.
func NewLevel(cmp base.Compare, files []FileBounds, open func(i int) (base.InternalIterator, error)) *LevelIter {
	return &LevelIter{cmp: cmp, files: files, open: open, index: -1}
}

// fail records the first error and reports false.
func (l *LevelIter) fail(err error) bool {
	if l.err == nil {
		l.err = err
	}
	return false
}

// closeChild closes the open file, if any.
func (l *LevelIter) closeChild() bool {
	if l.child == nil {
		return true
	}
	err := l.child.Close()
	l.child, l.index = nil, -1
	if err != nil {
		return l.fail(err)
	}
	return true
}

// load makes file i the open file, keeping it if it is already open. An i
// outside the level closes the open file and reports false.
func (l *LevelIter) load(i int) bool {
	if l.child != nil && l.index == i {
		return true
	}
	if !l.closeChild() || i < 0 || i >= len(l.files) {
		return false
	}
	child, err := l.open(i)
	if err != nil {
		return l.fail(err)
	}
	l.child, l.index = child, i
	return true
}

// settle finishes a move of the open file that landed at ok: on false it
// records the child's error or, if the file is exhausted, moves on to the
// next file in dir.
func (l *LevelIter) settle(ok bool, dir direction) bool {
	for !ok {
		if err := l.child.Error(); err != nil {
			return l.fail(err)
		}
		if !l.load(l.index + int(dir)) {
			return false
		}
		if dir == forward {
			ok = l.child.First()
		} else {
			ok = l.child.Last()
		}
	}
	return true
}

// First implements base.InternalIterator.
func (l *LevelIter) First() bool {
	if l.err != nil || !l.load(0) {
		return false
	}
	return l.settle(l.child.First(), forward)
}

// Last implements base.InternalIterator.
func (l *LevelIter) Last() bool {
	if l.err != nil || !l.load(len(l.files)-1) {
		return false
	}
	return l.settle(l.child.Last(), backward)
}

// SeekGE implements base.InternalIterator. The file to look in is the first
// whose largest key is >= key: every file before it holds only smaller
// keys.
func (l *LevelIter) SeekGE(key base.InternalKey) bool {
	if l.err != nil {
		return false
	}
	i := sort.Search(len(l.files), func(i int) bool {
		return base.InternalCompare(l.cmp, l.files[i].Largest, key) >= 0
	})
	if !l.load(i) {
		return false
	}
	return l.settle(l.child.SeekGE(key), forward)
}

// SeekLT implements base.InternalIterator. The file to look in is the last
// whose smallest key is < key: every file after it holds only keys >= key.
func (l *LevelIter) SeekLT(key base.InternalKey) bool {
	if l.err != nil {
		return false
	}
	i := sort.Search(len(l.files), func(i int) bool {
		return base.InternalCompare(l.cmp, l.files[i].Smallest, key) >= 0
	}) - 1
	if !l.load(i) {
		return false
	}
	return l.settle(l.child.SeekLT(key), backward)
}

// Next implements base.InternalIterator.
func (l *LevelIter) Next() bool {
	if !l.Valid() {
		return false
	}
	return l.settle(l.child.Next(), forward)
}

// Prev implements base.InternalIterator.
func (l *LevelIter) Prev() bool {
	if !l.Valid() {
		return false
	}
	return l.settle(l.child.Prev(), backward)
}

// Valid implements base.InternalIterator.
func (l *LevelIter) Valid() bool { return l.err == nil && l.child != nil && l.child.Valid() }

// Key implements base.InternalIterator. It is the open file's key.
func (l *LevelIter) Key() base.InternalKey { return l.child.Key() }

// Value implements base.InternalIterator. It is the open file's value.
func (l *LevelIter) Value() []byte { return l.child.Value() }

// Error implements base.InternalIterator: the first error from opening,
// reading or closing a file.
func (l *LevelIter) Error() error { return l.err }

// Close implements base.InternalIterator. It closes the open file and
// returns the first error met.
func (l *LevelIter) Close() error {
	l.closeChild()
	return l.err
}
