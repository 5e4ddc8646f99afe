package sstable

import "github.com/distributedkv/dkv/internal/base"

// The engine's key vocabulary, under names code outside the module can use
// (the types live in an internal package). The dkv package names the same
// types, and the kinds: dkv.KindSet, dkv.KindDelete, dkv.KindRangeDelete.
type (
	// InternalKey is a user key with the sequence number and kind of one
	// version of it: what a table stores, what Iterator.Key returns and
	// what Writer.Add takes. Its UserKey field is the user's key; SeqNum
	// and Kind return the rest.
	InternalKey = base.InternalKey

	// SeqNum is a sequence number (see InternalKey).
	SeqNum = base.SeqNum

	// Kind says what a version is: a value, a deletion, a range deletion.
	Kind = base.Kind

	// Trailer packs a SeqNum and a Kind in one uint64, as tables store
	// them after each key; Reader.Get returns the found version's.
	Trailer = base.Trailer

	// FileNum numbers a database's files; the block cache keys blocks by
	// it.
	FileNum = base.FileNum
)

// MakeInternalKey returns the internal key of userKey at sequence number
// seq with kind kind.
func MakeInternalKey(userKey []byte, seq SeqNum, kind Kind) InternalKey {
	return base.MakeInternalKey(userKey, seq, kind)
}
