// Package memtable holds the newest writes in memory, sorted, until they are
// flushed to a table on disk.
//
// A MemTable is a B-tree (github.com/google/btree) of internal keys: user key
// ascending, then sequence number descending, so a search for (key, seq) lands
// on the newest version of key that a reader at seq may see. Every version
// stays in the tree — a Delete adds a tombstone, it removes nothing — because
// readers at older sequence numbers may still need the older versions.
//
// Beside the tree, a small bloom filter of the keys (sized from the
// capacity given to New) lets Get answer most lookups of absent keys
// without searching the tree: a memtable holds only the newest writes, so
// most point reads miss it.
//
// Range tombstones are kept beside the tree, in the order they were added.
// RangeDels gives readers a rangedel.List of them that answers at any
// sequence number, immutable, extended (not rebuilt) with the tombstones
// added since the last one: O(n log² n) for n tombstones however they nest
// and however reads interleave with range deletions, O(log² n) a lookup.
// RangeDelsFor fragments them for a table, keeping only the sequence
// numbers the table's readers can tell apart, in O(n log n).
//
// Keys and values are copied into an arena of large chunks owned by the
// MemTable, outside the Go heap (internal/manual). The MemTable is
// reference-counted: New returns it with one reference, Ref adds one, and
// the last Unref frees the arena. Slices returned by Get, by iterators and
// by RangeDels point into it: they stay valid, unchanged, while the caller
// holds a reference, and not a moment longer.
//
// Concurrency: one writer, many readers. Add must be called by one goroutine
// at a time (the DB's commit path); Get, Len and ApproximateSize may be called
// from any number of goroutines concurrently with it.
//
// Memory accounting: ApproximateSize counts the key and value bytes plus a
// fixed per-entry overhead for the tree, which is what the DB compares with
// Options.MemTableSize to decide when the memtable is full.
package memtable
