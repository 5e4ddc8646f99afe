// Package base is dkv's vocabulary: the types every layer of the engine speaks
// and nothing else. It imports only the standard library.
//
// The main types:
//
//   - SeqNum and Kind: every write gets a sequence number; a version of a key
//     is a Set (a value) or a Delete (a tombstone).
//   - InternalKey: a user key plus a trailer (sequence number << 8 | kind).
//     Internal keys sort by user key ascending, then by trailer descending,
//     so that the newest version of a key comes first.
//   - Comparer: how user keys are ordered (bytewise by default).
//   - CorruptionError: bytes on disk that fail a check. It names the file and
//     the offset, and matches ErrCorruption with errors.Is.
//   - FileNum and file names: how the engine names the files in its
//     directory (000007.log, LOCK).
//
// Nothing here allocates behind the caller's back or keeps references to the
// slices passed in, unless a comment says so.
package base
