package memtable

import (
	"hash/maphash"
	"sync/atomic"
)

// filter is a register-blocked bloom filter of the user keys in a MemTable.
// Most point reads look for a key the memtable does not hold — it holds
// the newest few percent of the data — and answering them from the filter
// costs one memory access instead of a B-tree search of a dozen or more
// cache misses. It lives only in memory: its hash is seeded per process.
//
// Each key sets filterProbes bits of one 64-bit word chosen by its hash:
// adding a key is one atomic OR (often none: its bits are already set) and
// a query one load. Blocking a key's bits into one word costs some false
// positives against a classic bloom filter of the same size.
//
// MemTable.Add sets a key's bits before it returns, and so before the DB
// publishes the entry's sequence number: a reader that may see the entry
// therefore sees the bits.
type filter struct {
	words []atomic.Uint64
}

const (
	// filterBytesPerBit sizes a filter from the memtable's capacity: one
	// bit per 32 bytes it may account for (256 KiB for 64 MiB), small
	// enough to stay in the CPU's caches next to the tree, which is what
	// keeps its cost on the write path near 5%. The 16-byte keys and
	// 100-byte values of db_bench get 5.8 bits each, for about 8% false
	// positives: each costs only the tree search that every lookup paid
	// without a filter.
	filterBytesPerBit = 32
	filterProbes      = 3
)

var filterSeed = maphash.MakeSeed()

// newFilter returns a filter for a memtable of capacity bytes, or nil when
// capacity is too small to be worth one.
func newFilter(capacity int64) *filter {
	bits := capacity / filterBytesPerBit
	if bits < 4096 {
		return nil
	}
	return &filter{words: make([]atomic.Uint64, (bits+63)/64)}
}

// mayContain reports whether key may have been added; false is certain.
func (f *filter) mayContain(key []byte) bool {
	w, mask := f.locate(key)
	return w.Load()&mask == mask
}

// locate returns key's word and its bits in it: the word comes from the
// hash's low 32 bits (scaled to the number of words by a multiply and
// shift), the bits from a mix of all 64 (splitmix64's finalizer), so keys
// that share a word do not share bits.
func (f *filter) locate(key []byte) (*atomic.Uint64, uint64) {
	h := maphash.Bytes(filterSeed, key)
	g := h ^ h>>30
	g *= 0xbf58476d1ce4e5b9
	g ^= g >> 27
	g *= 0x94d049bb133111eb
	g ^= g >> 31
	var mask uint64
	for range filterProbes {
		mask |= 1 << (g & 63)
		g >>= 6
	}
	return &f.words[(h&0xffffffff)*uint64(len(f.words))>>32], mask
}
