package memtable

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/google/btree"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/manual"
	"github.com/distributedkv/dkv/internal/rangedel"
)

// EntryOverhead is the memory one entry costs beyond its key and value: the
// entry struct in a B-tree node (32 bytes) plus the slack of nodes that are
// not full (random inserts leave them about 70% full).
const EntryOverhead = 48

// degree is the B-tree's minimum degree: nodes hold 31 to 63 entries.
const degree = 32

// entry is one version of a key: ptr points to the key followed by the
// value, in the arena (or, for a search key, to the caller's bytes). A
// pointer and two lengths instead of a slice keep entries at 32 bytes,
// which is what B-tree inserts spend their time moving and what the tree's
// nodes hold on the Go heap.
type entry struct {
	ptr     unsafe.Pointer
	prefix  uint64 // the key's first 8 bytes, big-endian, zero-padded
	trailer base.Trailer
	keyLen  uint32
	valLen  uint32
}

// makeEntry returns the entry for the key kv[:keyLen], followed by its
// value kv[keyLen:], with trailer.
func makeEntry(kv []byte, keyLen int, trailer base.Trailer) entry {
	return entry{ptr: unsafe.Pointer(unsafe.SliceData(kv)), prefix: keyPrefix(kv[:keyLen]),
		keyLen: uint32(keyLen), valLen: uint32(len(kv) - keyLen), trailer: trailer}
}

// keyPrefix packs a key's first 8 bytes into an integer whose order is the
// bytewise order of those bytes: most comparisons of a B-tree search end
// there, without touching the key's bytes in the arena (a cache miss each).
func keyPrefix(key []byte) uint64 {
	if len(key) >= 8 {
		return binary.BigEndian.Uint64(key)
	}
	var b [8]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:])
}

func (e *entry) key() []byte { return unsafe.Slice((*byte)(e.ptr), e.keyLen) }

// value returns the entry's value; an empty value is empty, not nil.
func (e *entry) value() []byte {
	if e.valLen == 0 {
		return emptyValue
	}
	return unsafe.Slice((*byte)(unsafe.Add(e.ptr, e.keyLen)), e.valLen)
}

var emptyValue = []byte{}

// MemTable is an in-memory sorted set of key versions. See the package doc
// for the concurrency contract.
type MemTable struct {
	cmp   base.Compare
	less  func(a, b entry) bool
	mu    sync.RWMutex // guards tree
	tree  *btree.BTreeG[entry]
	arena arena // writer only

	// refs counts the owners of the arena's memory: New's caller, then
	// whoever it shares the MemTable with (Ref); the last Unref frees it.
	refs atomic.Int32

	size   atomic.Int64
	count  atomic.Int64
	filter *filter // of the point keys; nil for a small memtable

	// Range tombstones live apart from the tree: reads ask which of them
	// cover a key, which a List of them answers (see rangedel). The List
	// is extended, not rebuilt, with the tombstones added since the last
	// one was made (rangedel.List.Extend): a memtable whose reads and range
	// deletions alternate costs O(log² n) amortised per tombstone.
	rdMu       sync.Mutex // guards rangeDels
	rangeDels  []rangedel.Tombstone
	rangeDelsN atomic.Int64 // len(rangeDels), stored after the append
	buildMu    sync.Mutex   // one extension of fragments at a time
	// fragments is the newest List made, of a prefix of rangeDels (all of
	// it when its Len is rangeDelsN). Lists only ever replace it with
	// longer ones, under buildMu.
	fragments atomic.Pointer[rangedel.List]
}

// New returns an empty MemTable ordered by c. capacity is the
// ApproximateSize at which its owner will retire it; it sizes the key
// filter that lets Get answer most absent keys without searching the tree
// (0: no filter). A MemTable may grow past capacity; its filter then
// answers "maybe" more often.
func New(c *base.Comparer, capacity int64) *MemTable {
	cmp := c.Compare
	less := func(a, b entry) bool {
		if c := cmp(a.key(), b.key()); c != 0 {
			return c < 0
		}
		return a.trailer > b.trailer
	}
	if c == base.DefaultComparer {
		// The same order, decided by the key prefixes when they differ
		// (they order like the keys: the first differing byte decides, and
		// a shorter key's padding is below any byte but 0, where the full
		// comparison takes over), and without calling through a function
		// value: comparisons are most of an insert's work.
		less = func(a, b entry) bool {
			if a.prefix != b.prefix {
				return a.prefix < b.prefix
			}
			if c := bytes.Compare(a.key(), b.key()); c != 0 {
				return c < 0
			}
			return a.trailer > b.trailer
		}
	}
	m := &MemTable{cmp: cmp, less: less, tree: btree.NewG(degree, less), filter: newFilter(capacity)}
	m.fragments.Store(rangedel.NewListOf(m.cmp, nil)) // none yet
	m.refs.Store(1)
	return m
}

// Ref adds an owner of the MemTable, which must call Unref when done.
func (m *MemTable) Ref() {
	if m.refs.Add(1) <= 1 {
		panic("memtable: Ref of a released MemTable")
	}
}

// Unref ends one owner's use of the MemTable (New's caller is the first
// owner). The last Unref frees the arena: from then on nothing may touch
// the MemTable or a key, value or range tombstone it returned — the
// memory is unmapped or reused.
func (m *MemTable) Unref() {
	switch n := m.refs.Add(-1); {
	case n == 0:
		m.mu.Lock()
		m.tree = nil // a use after the last Unref fails loudly
		m.arena.free()
		m.mu.Unlock()
	case n < 0:
		panic("memtable: Unref of a released MemTable")
	}
}

// Add inserts a version of key. The MemTable copies key and value. The
// caller guarantees that (key, seq) is new: sequence numbers are unique.
// A KindRangeDelete deletes [key, value): value is the end key. One writer
// at a time.
func (m *MemTable) Add(seq base.SeqNum, kind base.Kind, key, value []byte) {
	in := m.Inserter()
	in.Add(seq, kind, key, value)
	in.Finish()
}

// insertGroup is how many entries an Inserter adds under one hold of the
// tree's lock: enough to spread the lock's cost, few enough (a few
// microseconds) not to keep readers waiting. insertGroupBytes bounds the
// bytes copied into the arena under one hold, so that large values do not
// keep readers waiting either: an entry that would pass it is copied with
// the lock released.
const (
	insertGroup      = 16
	insertGroupBytes = 16 << 10
)

// Inserter adds a run of entries (a batch) with less synchronization than
// one Add each: it takes the tree's lock once per insertGroup entries (or
// insertGroupBytes) and updates Len and ApproximateSize once, at Finish.
// Readers may have to wait for Finish to search the tree; the writer calls
// Finish before it publishes the entries' sequence numbers, and must call
// it (an Inserter holds the lock between Adds). Use an Inserter by
// pointer, never a copy. One writer at a time.
type Inserter struct {
	m           *MemTable
	locked      int // entries added under the current hold of m.mu; 0: not held
	lockedBytes int // bytes copied under the current hold
	size        int64
	count       int64
}

// Inserter returns an Inserter for m.
func (m *MemTable) Inserter() Inserter { return Inserter{m: m} }

// Add is MemTable.Add, deferred as the Inserter's doc says.
func (in *Inserter) Add(seq base.SeqNum, kind base.Kind, key, value []byte) {
	m := in.m
	// The filter's word is read first, and set last: the read (a likely
	// cache miss) overlaps the copy and the tree insert instead of
	// stalling the atomic OR. Only this writer sets bits, so the word
	// cannot have changed meanwhile.
	var fw *atomic.Uint64
	var fmask, fold uint64
	if m.filter != nil && kind != base.KindRangeDelete {
		fw, fmask = m.filter.locate(key)
		fold = fw.Load()
	}
	n := len(key) + len(value)
	if in.locked > 0 && in.lockedBytes+n > insertGroupBytes {
		in.unlock()
	}
	buf := m.arena.alloc(n)
	copy(buf, key)
	copy(buf[len(key):], value)
	if in.locked > 0 {
		in.lockedBytes += n
	}
	if kind == base.KindRangeDelete {
		t := rangedel.Tombstone{Start: buf[:len(key):len(key)], End: buf[len(key):], Seq: seq}
		m.rdMu.Lock()
		m.rangeDels = append(m.rangeDels, t)
		m.rangeDelsN.Store(int64(len(m.rangeDels)))
		m.rdMu.Unlock()
	} else {
		if in.locked == 0 {
			m.mu.Lock()
		}
		m.tree.ReplaceOrInsert(makeEntry(buf, len(key), base.MakeTrailer(seq, kind)))
		if in.locked++; in.locked == insertGroup {
			in.unlock()
		}
		if fw != nil && fold&fmask != fmask {
			fw.Or(fmask) // before the caller publishes seq: see filter
		}
	}
	in.size += int64(len(key) + len(value) + EntryOverhead)
	in.count++
}

// unlock ends the current hold of the tree's lock.
func (in *Inserter) unlock() {
	in.m.mu.Unlock()
	in.locked, in.lockedBytes = 0, 0
}

// Finish makes the entries added visible to every reader and accounts for
// them.
func (in *Inserter) Finish() {
	if in.locked > 0 {
		in.unlock()
	}
	if in.count > 0 {
		in.m.size.Add(in.size)
		in.m.count.Add(in.count)
		in.size, in.count = 0, 0
	}
}

// Get returns the newest version of key with a sequence number at or below
// seq: its trailer (sequence number and kind) and, for a Set, its value
// (pointing into the arena; do not modify it). ok is false when the MemTable
// holds no such version.
func (m *MemTable) Get(key []byte, seq base.SeqNum) (value []byte, trailer base.Trailer, ok bool) {
	if m.filter != nil && !m.filter.mayContain(key) {
		return nil, 0, false
	}
	pivot := makeEntry(key, len(key), base.MakeTrailer(seq, base.KindMax))
	var found entry
	var any bool
	m.mu.RLock()
	m.tree.AscendGreaterOrEqual(pivot, func(e entry) bool {
		found, any = e, true
		return false
	})
	m.mu.RUnlock()
	if !any || m.cmp(found.key(), key) != 0 {
		return nil, 0, false
	}
	return found.value(), found.trailer, true
}

// MayContain reports what the key filter says of key: false means the
// MemTable holds no version of it. hasFilter is false for a MemTable
// without a filter, which may contain anything. Get asks the filter
// itself; this is for explaining a read.
func (m *MemTable) MayContain(key []byte) (may, hasFilter bool) {
	if m.filter == nil {
		return true, false
	}
	return m.filter.mayContain(key), true
}

// RangeDels returns the MemTable's range tombstones as a List that answers
// readers at every sequence number (as rangedel.NewListOf does),
// immutable: later Adds do not change it, and a reader may keep it while
// they go on. It holds every range tombstone whose Add returned before the
// call. Its Spans are what a reader above every tombstone sees.
//
// The List is made on the first call after a range deletion was added,
// by extending the previous one (rangedel.List.Extend), then reused: n
// tombstones, however they nest and however reads interleave with them,
// cost O(n log² n) to make Lists of, and a lookup O(log² n) (O(log n)
// levels). The writer never waits for it: Add only appends.
func (m *MemTable) RangeDels() *rangedel.List {
	n := int(m.rangeDelsN.Load())
	if l := m.fragments.Load(); l.Len() >= n {
		return l // the common case: no lock
	}
	m.buildMu.Lock()
	defer m.buildMu.Unlock()
	l := m.fragments.Load()
	if l.Len() >= n {
		return l // another reader made it meanwhile
	}
	m.rdMu.Lock()
	// The list keeps this prefix of rangeDels, which Add never changes:
	// it only appends.
	ts := m.rangeDels[:len(m.rangeDels):len(m.rangeDels)]
	m.rdMu.Unlock()
	l = l.Extend(m.cmp, ts)
	m.fragments.Store(l)
	return l
}

// RangeDelsFor returns the MemTable's range tombstones fragmented for a
// table (rangedel.FragmentFor): exact for readers at the sequence numbers
// snapshots (ascending) and at every sequence number at or above
// published. Each span keeps the newest sequence number of each stripe the
// snapshots, published and the tombstones above published cut: a reader
// at or above published may read between two tombstones not yet published
// when the table was written, so each of those is a stripe of its own.
// For a flush: readers of the table are the snapshots open when it
// started and readers that begin later, at or above what was published
// then.
func (m *MemTable) RangeDelsFor(snapshots []base.SeqNum, published base.SeqNum) []rangedel.Span {
	m.rdMu.Lock()
	ts := m.rangeDels[:len(m.rangeDels):len(m.rangeDels)]
	m.rdMu.Unlock()
	readers := append(slices.Clone(snapshots), published)
	for _, t := range ts {
		if t.Seq > published {
			readers = append(readers, t.Seq)
		}
	}
	slices.Sort(readers)
	return rangedel.FragmentFor(m.cmp, ts, slices.Compact(readers))
}

// ApproximateSize returns the memory the MemTable accounts for: keys, values
// and EntryOverhead per entry.
func (m *MemTable) ApproximateSize() int64 { return m.size.Load() }

// Len returns the number of entries (versions, tombstones and range
// tombstones included).
func (m *MemTable) Len() int { return int(m.count.Load()) }

// Empty reports whether the MemTable has no entries.
func (m *MemTable) Empty() bool { return m.count.Load() == 0 }

// arenaChunk is the size of the arena's chunks: the largest buffer the
// manual allocator recycles (a freed chunk goes to the next memtable with
// its pages already faulted in; a fresh mapping would cost a page fault
// every 4 KiB of writes). A key and value larger than a quarter of it get a
// buffer of their own.
const arenaChunk = manual.MaxSmall

// arena hands out byte slices carved from large chunks, so that a memtable of
// millions of small entries costs a few hundred allocations, not millions.
// The chunks live outside the Go heap (internal/manual): the collector
// neither scans them nor counts them twice in its headroom. They are
// freed together, by free, when the MemTable's last reference goes.
type arena struct {
	cur    []byte
	chunks [][]byte // every buffer handed out, for free
}

func (a *arena) alloc(n int) []byte {
	if n > arenaChunk/4 {
		b := manual.New(n)
		a.chunks = append(a.chunks, b)
		return b[:n:n]
	}
	if cap(a.cur)-len(a.cur) < n {
		a.cur = manual.New(arenaChunk)[:0]
		a.chunks = append(a.chunks, a.cur)
	}
	start := len(a.cur)
	a.cur = a.cur[:start+n]
	return a.cur[start : start+n : start+n]
}

// free gives every chunk back. Nothing may read the arena afterwards.
func (a *arena) free() {
	for i, c := range a.chunks {
		manual.Free(c)
		a.chunks[i] = nil
	}
	a.chunks, a.cur = nil, nil
}
