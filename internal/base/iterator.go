package base

// InternalIterator walks internal keys in order (InternalCompare). It is the
// interface shared by memtables, tables, and the merging and visibility
// iterators built on them.
//
// Positioning methods (First, Last, SeekGE, SeekLT, Next, Prev) return
// whether the iterator is at an entry; Valid says the same afterwards. Next
// and Prev require a valid position. Key and Value are valid only while the
// iterator is positioned, and only until the next positioning call; the
// caller copies what it keeps. When a positioning method returns false,
// Error tells an exhausted iterator (nil) from a failed one.
//
// Iterators are not safe for concurrent use. Close releases resources and
// returns the first error met.
type InternalIterator interface {
	First() bool
	Last() bool
	// SeekGE moves to the first entry >= key.
	SeekGE(key InternalKey) bool
	// SeekLT moves to the last entry < key.
	SeekLT(key InternalKey) bool
	Next() bool
	Prev() bool
	Valid() bool
	Key() InternalKey
	Value() []byte
	Error() error
	Close() error
}

// SearchKey returns the internal key that SeekGE uses to find the newest
// version of userKey visible at seq: it sorts before every version with a
// sequence number at or below seq.
func SearchKey(userKey []byte, seq SeqNum) InternalKey {
	return MakeInternalKey(userKey, seq, KindMax)
}
