package client

import (
	"bytes"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// rangeCache remembers what the client learned about ranges: their bounds
// and the address of their leader. Entries are sorted by start key and do
// not overlap; between them are keys the cache knows nothing about, which
// are sent to any endpoint.
//
// While the cluster has a single range, the first leader learned is
// recorded for the whole key space, [∅, ∅); descriptors that servers send
// with KeyNotInRange and EpochNotMatch errors cut it into real ranges.
type rangeCache struct {
	mu      sync.Mutex
	entries []rangeEntry
}

type rangeEntry struct {
	rangeID    uint64 // 0: not known
	epoch      *kvpb.RangeEpoch
	start, end []byte // [start, end); an empty end is the end of the key space
	leader     string // address; "": not known
}

func (e *rangeEntry) contains(key []byte) bool {
	return bytes.Compare(e.start, key) <= 0 && (len(e.end) == 0 || bytes.Compare(key, e.end) < 0)
}

// find returns the index of the entry holding key, or -1.
func (rc *rangeCache) find(key []byte) int {
	// The last entry starting at or before key is the only one that can
	// hold it.
	i, found := slices.BinarySearchFunc(rc.entries, key, func(e rangeEntry, k []byte) int {
		return bytes.Compare(e.start, k)
	})
	if !found {
		i--
	}
	if i >= 0 && rc.entries[i].contains(key) {
		return i
	}
	return -1
}

// leader returns the cached leader of key's range, or "".
func (rc *rangeCache) leader(key []byte) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if i := rc.find(key); i >= 0 {
		return rc.entries[i].leader
	}
	return ""
}

// setLeader records addr as the leader of key's range. When no range is
// known for key, and no range at all is known, it records the whole key
// space as one range; when other ranges are known, it records nothing (the
// bounds of key's range are unknown).
func (rc *rangeCache) setLeader(key []byte, addr string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if i := rc.find(key); i >= 0 {
		rc.entries[i].leader = addr
		return
	}
	if len(rc.entries) == 0 {
		rc.entries = append(rc.entries, rangeEntry{leader: addr})
	}
}

// clearLeader forgets addr as the leader of key's range, unless another
// address was recorded since.
func (rc *rangeCache) clearLeader(key []byte, addr string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if i := rc.find(key); i >= 0 && rc.entries[i].leader == addr {
		rc.entries[i].leader = ""
	}
}

// header returns the request header that routes key to its cached range
// (its ID and epoch), or nil to route by key.
func (rc *rangeCache) header(key []byte) *kvpb.RequestHeader {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if i := rc.find(key); i >= 0 && rc.entries[i].rangeID != 0 {
		return &kvpb.RequestHeader{RangeId: rc.entries[i].rangeID, Epoch: rc.entries[i].epoch}
	}
	return nil
}

// forget drops what the cache knows of key's range.
func (rc *rangeCache) forget(key []byte) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if i := rc.find(key); i >= 0 {
		rc.entries = slices.Delete(rc.entries, i, i+1)
	}
}

// update records a range's descriptor, replacing the entries it overlaps,
// unless one of them is newer: a split gives both halves a higher version
// than the range they came from, so a descriptor overlapping a cached one
// of a higher version (or of the same range with the same version and a
// higher conf_ver) is stale — a lagging replica's — and is ignored. The
// leader of an entry of the same range with the same bounds is kept.
func (rc *rangeCache) update(d *kvpb.RangeDescriptor) {
	if d == nil || d.GetPlacement() {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	// Every answer carries its range's descriptor: the one already cached
	// changes nothing (the common case, without copying anything).
	if i := rc.find(d.GetStartKey()); i >= 0 {
		if e := rc.entries[i]; e.rangeID == d.GetRangeId() && bytes.Equal(e.start, d.GetStartKey()) &&
			bytes.Equal(e.end, d.GetEndKey()) && proto.Equal(e.epoch, d.GetEpoch()) {
			return
		}
	}
	ne := rangeEntry{
		rangeID: d.GetRangeId(),
		epoch:   d.GetEpoch(),
		start:   slices.Clone(d.GetStartKey()),
		end:     slices.Clone(d.GetEndKey()),
	}
	if ne.start == nil {
		ne.start = []byte{}
	}
	for _, e := range rc.entries {
		if overlaps(e, ne) && e.epoch != nil && olderThan(ne, e) {
			return
		}
	}
	kept := rc.entries[:0:0]
	for _, e := range rc.entries {
		if !overlaps(e, ne) {
			kept = append(kept, e)
			continue
		}
		if e.rangeID == ne.rangeID && bytes.Equal(e.start, ne.start) && bytes.Equal(e.end, ne.end) {
			ne.leader = e.leader
		}
	}
	i, _ := slices.BinarySearchFunc(kept, ne.start, func(e rangeEntry, k []byte) int {
		return bytes.Compare(e.start, k)
	})
	rc.entries = slices.Insert(kept, i, ne)
}

// olderThan reports whether entry a's descriptor is older than b's, which
// it overlaps.
func olderThan(a, b rangeEntry) bool {
	av, bv := a.epoch.GetVersion(), b.epoch.GetVersion()
	if av != bv {
		return av < bv
	}
	return a.rangeID == b.rangeID && a.epoch.GetConfVer() < b.epoch.GetConfVer()
}

// overlaps reports whether two entries share a key.
func overlaps(a, b rangeEntry) bool {
	// a starts before b ends, and b starts before a ends.
	return (len(b.end) == 0 || bytes.Compare(a.start, b.end) < 0) &&
		(len(a.end) == 0 || bytes.Compare(b.start, a.end) < 0)
}
