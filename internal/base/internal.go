package base

import (
	"encoding/binary"
	"fmt"
)

// SeqNum is a sequence number. Every operation written to the database gets
// the next one; a batch of n operations takes n consecutive numbers. A read
// at sequence number s sees exactly the operations numbered s or lower.
//
// Sequence numbers fit in 56 bits so that a number and a Kind share one
// uint64 trailer.
type SeqNum uint64

// SeqNumMax is the largest sequence number the engine can assign.
const SeqNumMax SeqNum = 1<<56 - 1

// Kind says what a version of a key is. The values are stored on disk (in WAL
// batches and, later, in tables): never renumber them.
type Kind uint8

const (
	// KindDelete is a tombstone: the key has no value as of this version.
	KindDelete Kind = 0
	// KindSet carries a value.
	KindSet Kind = 1
	// KindRangeDelete is a range tombstone: the user keys from this key
	// (included) to an end key (excluded, carried as the value) have no
	// value as of this version, nor any older one. Range tombstones live
	// apart from point keys: in their own memtable list and table block.
	KindRangeDelete Kind = 2

	// KindMax is larger than every stored kind. A search key built with it
	// sorts before every stored version with the same user key and sequence
	// number (the trailer order is descending).
	KindMax Kind = 0xff
)

func (k Kind) String() string {
	switch k {
	case KindDelete:
		return "DEL"
	case KindSet:
		return "SET"
	case KindRangeDelete:
		return "RANGEDEL"
	case KindMax:
		return "MAX"
	}
	return fmt.Sprintf("KIND(%d)", uint8(k))
}

// Valid reports whether k is a kind that may appear in stored data.
func (k Kind) Valid() bool { return k == KindDelete || k == KindSet || k == KindRangeDelete }

// IsPoint reports whether k is the kind of a point key (a Set or a Delete),
// which is what a table's data blocks and a memtable's tree hold.
func (k Kind) IsPoint() bool { return k == KindDelete || k == KindSet }

// Trailer packs a sequence number and a kind: seq<<8 | kind.
type Trailer uint64

// MakeTrailer returns the trailer for (seq, kind).
func MakeTrailer(seq SeqNum, kind Kind) Trailer { return Trailer(seq)<<8 | Trailer(kind) }

// SeqNum returns the trailer's sequence number.
func (t Trailer) SeqNum() SeqNum { return SeqNum(t >> 8) }

// Kind returns the trailer's kind.
func (t Trailer) Kind() Kind { return Kind(t & 0xff) }

// InternalKey is one version of a user key.
type InternalKey struct {
	UserKey []byte
	Trailer Trailer
}

// MakeInternalKey returns the internal key for (userKey, seq, kind). It keeps
// a reference to userKey.
func MakeInternalKey(userKey []byte, seq SeqNum, kind Kind) InternalKey {
	return InternalKey{UserKey: userKey, Trailer: MakeTrailer(seq, kind)}
}

// SeqNum returns the key's sequence number.
func (k InternalKey) SeqNum() SeqNum { return k.Trailer.SeqNum() }

// Kind returns the key's kind.
func (k InternalKey) Kind() Kind { return k.Trailer.Kind() }

// Size is the encoded length of k: the user key plus an 8-byte trailer.
func (k InternalKey) Size() int { return len(k.UserKey) + 8 }

// Encode writes k into buf, which must hold at least k.Size() bytes: the user
// key followed by the trailer as 8 little-endian bytes.
func (k InternalKey) Encode(buf []byte) {
	n := copy(buf, k.UserKey)
	binary.LittleEndian.PutUint64(buf[n:], uint64(k.Trailer))
}

// DecodeInternalKey splits an encoded internal key. It reports ok=false when
// encoded is shorter than a trailer. The returned key refers to encoded.
func DecodeInternalKey(encoded []byte) (key InternalKey, ok bool) {
	n := len(encoded) - 8
	if n < 0 {
		return InternalKey{}, false
	}
	return InternalKey{
		UserKey: encoded[:n:n],
		Trailer: Trailer(binary.LittleEndian.Uint64(encoded[n:])),
	}, true
}

// MakeExclusiveSentinel returns the key a table whose range tombstones end
// at the (excluded) user key end uses as its largest key: (end, SeqNumMax,
// KindRangeDelete), which sorts before every version of end. A table whose
// largest key is such a sentinel holds nothing at end itself.
func MakeExclusiveSentinel(end []byte) InternalKey {
	return MakeInternalKey(end, SeqNumMax, KindRangeDelete)
}

// IsExclusiveSentinel reports whether k is a range tombstone's exclusive end
// (MakeExclusiveSentinel): as a table's largest key, it means the table's
// range stops just before k.UserKey.
func (k InternalKey) IsExclusiveSentinel() bool {
	return k.Trailer == MakeTrailer(SeqNumMax, KindRangeDelete)
}

// String formats k for tests and tools as key#seq,KIND.
func (k InternalKey) String() string {
	return fmt.Sprintf("%q#%d,%s", k.UserKey, k.SeqNum(), k.Kind())
}

// InternalCompare orders internal keys: by user key with cmp, then by
// trailer descending (newer versions first).
func InternalCompare(cmp Compare, a, b InternalKey) int {
	if c := cmp(a.UserKey, b.UserKey); c != 0 {
		return c
	}
	switch {
	case a.Trailer > b.Trailer:
		return -1
	case a.Trailer < b.Trailer:
		return 1
	}
	return 0
}
