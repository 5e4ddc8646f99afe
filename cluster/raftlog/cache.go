package raftlog

import (
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// entryOverhead is what a cached entry costs beyond its encoding: the
// Entry struct, its field pointers and the cache's slot. The cache counts
// it so that a log of tiny entries is bounded too.
const entryOverhead = 96

// cache holds the newest entries of the log: a contiguous run [lo, lo +
// len(ents)) that, when not empty, ends at the Storage's last index. Its
// entries are the ones Append was given (or their equals) and are never
// mutated. It is not safe for concurrent use: the Storage's mutex guards
// it.
//
// Entries at pin and above are never evicted: an outstanding Pending
// overwrites them in the engine, so until it is Applied the cache is the
// only place that still holds the entries the Storage reports. The cache
// may exceed its budget by what is pinned.
type cache struct {
	max   int64 // bytes; 0: cache nothing that is not pinned
	pin   uint64
	lo    uint64
	ents  []cachedEntry
	bytes int64
}

type cachedEntry struct {
	e    *raftpb.Entry
	size uint64 // proto.Size(e), the size raft counts against maxSize
}

func (c *cache) len() int { return len(c.ents) }

// first returns the index of the first cached entry, or last+1 when the
// cache is empty.
func (c *cache) first(last uint64) uint64 {
	if len(c.ents) == 0 {
		return last + 1
	}
	return c.lo
}

// get returns the cached entry at index i.
func (c *cache) get(i uint64) (cachedEntry, bool) {
	if len(c.ents) == 0 || i < c.lo || i-c.lo >= uint64(len(c.ents)) {
		return cachedEntry{}, false
	}
	return c.ents[i-c.lo], true
}

// slice returns the cached entries of [lo, hi), which must be cached.
func (c *cache) slice(lo, hi uint64) []cachedEntry {
	return c.ents[lo-c.lo : hi-c.lo]
}

// add records ents, contiguous, as the new tail of the log: cached entries
// at ents[0]'s index and above are replaced (an overwritten suffix), and
// the oldest entries are evicted until the cache fits its budget. A run
// that does not continue the cached one (a gap before ents[0], or a
// cache that starts after it) replaces the cache.
func (c *cache) add(ents []*raftpb.Entry) {
	if len(ents) == 0 {
		return
	}
	first := ents[0].GetIndex()
	if len(c.ents) > 0 && first >= c.lo && first <= c.lo+uint64(len(c.ents)) {
		c.truncateBack(first)
	} else {
		c.reset()
	}
	if len(c.ents) == 0 {
		c.lo = first
	}
	for _, e := range ents {
		size := uint64(proto.Size(e))
		c.ents = append(c.ents, cachedEntry{e: e, size: size})
		c.bytes += int64(size) + entryOverhead
	}
	c.evict()
}

// prepend adds ents, contiguous, in front of the cached run: they end
// just before its first entry, or at last when the cache is empty. They
// are not evicted before the next add, evict or truncation.
func (c *cache) prepend(ents []*raftpb.Entry, last uint64) {
	if len(ents) == 0 {
		return
	}
	if end := ents[len(ents)-1].GetIndex(); end+1 != c.first(last) {
		panic(fmt.Sprintf("raftlog: prepending entries ending at %d to a cache starting at %d", end, c.first(last)))
	}
	front := make([]cachedEntry, 0, len(ents)+len(c.ents))
	for _, e := range ents {
		size := uint64(proto.Size(e))
		front = append(front, cachedEntry{e: e, size: size})
		c.bytes += int64(size) + entryOverhead
	}
	c.ents = append(front, c.ents...)
	c.lo = ents[0].GetIndex()
}

// truncateBack drops the cached entries at index i and above.
func (c *cache) truncateBack(i uint64) {
	if len(c.ents) == 0 || i >= c.lo+uint64(len(c.ents)) {
		return
	}
	if i <= c.lo {
		c.reset()
		return
	}
	keep := int(i - c.lo)
	for j := keep; j < len(c.ents); j++ {
		c.bytes -= int64(c.ents[j].size) + entryOverhead
		c.ents[j] = cachedEntry{}
	}
	c.ents = c.ents[:keep]
}

// truncateFront drops the cached entries at index i and below.
func (c *cache) truncateFront(i uint64) {
	if len(c.ents) == 0 || i < c.lo {
		return
	}
	n := i - c.lo + 1
	if n >= uint64(len(c.ents)) {
		c.reset()
		return
	}
	c.dropFront(int(n))
}

// evict drops the oldest entries, below the pin, until the cache fits its
// budget.
func (c *cache) evict() {
	n := 0
	for bytes := c.bytes; n < len(c.ents) && bytes > c.max && c.lo+uint64(n) < c.pin; n++ {
		bytes -= int64(c.ents[n].size) + entryOverhead
	}
	if n == len(c.ents) {
		c.reset()
		return
	}
	c.dropFront(n)
}

func (c *cache) dropFront(n int) {
	if n == 0 {
		return
	}
	for j := range n {
		c.bytes -= int64(c.ents[j].size) + entryOverhead
		c.ents[j] = cachedEntry{} // let the collector have it
	}
	c.ents = c.ents[n:]
	c.lo += uint64(n)
	// A run that keeps being cut at the front and appended at the back
	// would otherwise hold an ever-growing dead prefix until append
	// reallocates; copy it down when the dead part dominates.
	if cap(c.ents) > 64 && len(c.ents) < cap(c.ents)/4 {
		c.ents = append([]cachedEntry(nil), c.ents...)
	}
}

func (c *cache) reset() {
	clear(c.ents)
	c.ents = c.ents[:0]
	c.bytes = 0
	c.lo = 0
}

// check verifies the cache's own invariants and that it ends at last. It
// is called under the invariants build tag.
func (c *cache) check(last uint64) error {
	if len(c.ents) == 0 {
		if c.bytes != 0 {
			return fmt.Errorf("raftlog: empty cache counts %d bytes", c.bytes)
		}
		return nil
	}
	var bytes int64
	for j, ce := range c.ents {
		if got := ce.e.GetIndex(); got != c.lo+uint64(j) {
			return fmt.Errorf("raftlog: cache slot %d holds index %d, want %d", j, got, c.lo+uint64(j))
		}
		if ce.size != uint64(proto.Size(ce.e)) {
			return fmt.Errorf("raftlog: cached entry %d: size %d, want %d", ce.e.GetIndex(), ce.size, proto.Size(ce.e))
		}
		bytes += int64(ce.size) + entryOverhead
	}
	if bytes != c.bytes {
		return fmt.Errorf("raftlog: cache counts %d bytes, holds %d", c.bytes, bytes)
	}
	if end := c.lo + uint64(len(c.ents)) - 1; end != last {
		return fmt.Errorf("raftlog: cache ends at %d, the log at %d", end, last)
	}
	if c.bytes > c.max && c.lo < c.pin {
		return fmt.Errorf("raftlog: cache holds %d bytes, over its budget of %d, from %d below the pin %d", c.bytes, c.max, c.lo, c.pin)
	}
	return nil
}
