// Package rangedel holds range tombstones in the form reads and compactions
// use: fragments.
//
// A range tombstone deletes the user keys in [Start, End) at every sequence
// number below its own. Tombstones may overlap each other in any way, which
// makes "which tombstones cover key k?" a search over all of them. So they
// are fragmented first: cut at every start and end key into spans that
// never overlap, each span carrying sequence numbers of the tombstones
// that cover it, newest first. Then a lookup is one binary search:
//
//	tombstones  [b, f)#7   [d, h)#4
//	fragments   [b, d)#7   [d, f)#7,4   [f, h)#4
//
// A point version k#s is deleted as of sequence number r when the span
// holding k has a sequence number t with s < t <= r.
//
// # Which sequence numbers a span keeps
//
// Keeping every covering sequence number (Fragment) makes nested
// tombstones cost the square of their number: a queue that deletes
// everything up to its head after each push leaves n tombstones all
// covering the oldest keys, n spans holding 1, 2, ..., n sequence numbers.
// But the best witness that k#s is deleted as of r is the newest t <= r,
// so a span only needs the sequence numbers that are the newest at or
// below some reader's r. FragmentFor keeps, for readers at the open
// snapshots and above every tombstone, the newest sequence number of each
// snapshot stripe — with k snapshots, at most k+1 per span, whatever the
// nesting; the nested queue above becomes one span. Flushes and
// compactions write that to tables (a flush adds the sequence numbers of
// tombstones not yet published to readers, which later readers may read
// just below). The on-disk range-deletion block is unchanged: a table
// simply holds fewer sequence numbers.
//
// A memtable's readers (Gets and iterators at the latest sequence number
// when they began, which no list records) may read at any sequence number,
// so its List is made by NewListOf: spans for readers above every
// tombstone, and for the others a history of the tombstones in O(n log n)
// room that answers at any sequence number (see history).
//
// # Tombstones that keep coming
//
// A memtable adds tombstones between reads, and a List is immutable (its
// readers hold it while the writer goes on). Building a new List of all n
// tombstones after each would cost O(n log n) per read: issue 13's queue,
// read as it goes, O(n² log n). So a List of tombstones is kept in levels
// (the logarithmic method): consecutive runs of the tombstones, each a
// List of its own, each at least twice the size of the next, O(log n) of
// them. Extend makes the next List from the previous one, sharing its
// older levels and merging the tombstones added with the newest levels
// into one; each tombstone is rebuilt O(log n) times in all, so n
// tombstones cost O(n log² n) whatever the interleaving of reads. A
// lookup asks every level and keeps the newest answer — "the newest
// tombstone at or below r covering k" is a maximum, which any partition
// of the tombstones gives — in O(log² n) (see level).
//
// The package is used by the memtable (Extend, on demand), the
// sstable package (a table's range-deletion block holds the fragments of
// its tombstones: Fragment of what it is given), reads and iterators (one
// search per source of a view: AnyDeletes), flushes and compactions
// (FragmentFor, cut at output boundaries by Truncate).
//
// Every fragmenter here costs O(n log n) in the tombstones plus the size of
// what it returns; a List extended one tombstone at a time, O(n log² n).
//
// Concurrency: a List never changes once made, and is safe for concurrent
// use (what it builds lazily — histories, merged Spans — it builds once,
// under a sync.Once). Extend leaves the List it extends as it was.
package rangedel
