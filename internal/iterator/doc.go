// Package iterator builds the engine's read path out of simpler iterators.
//
// Every source of data — a memtable, a table — is a base.InternalIterator:
// a sorted stream of internal keys (user key ascending, then trailer
// descending, so the newest version of a key comes first). This package
// composes such streams, without knowing where they come from:
//
//   - MergingIter merges any number of overlapping internal iterators (the
//     memtables, the L0 tables, one LevelIter per deeper level) into one
//     internal-key-ordered stream, in both directions, with a heap.
//   - LevelIter concatenates the tables of one level, which do not overlap,
//     and keeps at most one of them open: a table is opened when the
//     iterator enters it and closed when it leaves.
//   - VisibleIter is the user's view: for each user key between the bounds
//     it yields the newest version a reader at a given sequence number may
//     see, hides keys whose newest visible version is a tombstone, and
//     returns user keys instead of internal keys.
//
// A DB iterator is therefore a VisibleIter over a MergingIter whose children
// are memtable iterators, table iterators and LevelIters.
//
// # Ownership of returned slices
//
// Key and Value return slices that belong to the iterator (or to the child
// it is positioned on). They are valid only until the next positioning call
// (First, Last, SeekGE, SeekLT, Next, Prev) or Close, and must not be
// modified; a caller copies what it keeps. MergingIter and LevelIter hand
// out their children's slices unchanged. VisibleIter hands out the inner
// iterator's slices when moving forward and its own buffers when moving
// backward (the inner iterator has already moved past the entry it
// returns).
//
// The iterators keep references to the keys passed to their constructors
// (bounds, file bounds) and to seek keys only for the duration of the call.
//
// # Errors
//
// A positioning method returns false both when the iterator is exhausted
// and when it failed; Error tells them apart. A failure is final: once an
// iterator of this package has met an error (from a child, from opening a
// file), every later positioning method returns false and Error keeps
// returning that first error. Close still closes every child it holds and
// returns the first error met.
//
// Next and Prev require a valid position (base.InternalIterator's
// contract); called on an exhausted iterator they return false and do
// nothing. To iterate again, call an absolute positioning method.
//
// # Concurrency
//
// Iterators are not safe for concurrent use: one goroutine at a time may
// call an iterator's methods, including Close. Different iterators over the
// same data may be used from different goroutines if their children allow
// it. The iterators start no goroutines and take no locks of their own.
package iterator
