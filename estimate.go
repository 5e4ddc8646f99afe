package dkv

import (
	"bytes"
	"fmt"
	"slices"
	"sort"

	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/sstable"
)

// Size estimates for key ranges, for splitting and balancing ranges.
//
// Both answers come from the tables of one version, pinned through a read
// state like a Get's, and from the tables' index blocks, which the table
// cache keeps in memory: no data block is read. The memtables are not on
// disk and are not counted, so data written since the last flush is
// invisible to the estimates until it is flushed.

// splitResolution bounds the entries EstimateSplitKey sorts: runs of
// adjacent data blocks of a table are merged until each holds about
// 1/splitResolution of the range, so that memory stays bounded however
// large the range; the split point moves by at most a run per table
// holding keys on both sides of it.
const splitResolution = 1 << 14

// EstimateDiskUsage returns an estimate of the bytes stored on disk
// (compressed, in tables) for the keys in [start, end); a nil or empty
// bound is unbounded. It adds up every table of the current version: a
// table wholly inside the range counts its size; a table partly inside
// counts its data blocks between the offsets where start and end would
// fall, found in its index, and the same fraction of its index, filter
// and properties. Every version of a key counts, in every level, as do
// tombstones: the answer is the space the range takes, not the size of
// its live data. Memtables are not counted. The error is about one data
// block per table at each bound that cuts through it, and the estimates
// of adjacent ranges add up to that of their union, to a byte of rounding
// per table they both cut. No data block is read.
//
// It returns ErrInvalidArgument when start is above end and ErrClosed after
// Close; an error reading a table's index (ErrCorruption, an I/O error)
// is returned as it is.
func (db *DB) EstimateDiskUsage(start, end []byte) (uint64, error) {
	start, end, err := db.checkEstimateBounds("EstimateDiskUsage", start, end)
	if err != nil {
		return 0, err
	}
	rs := db.loadReadState()
	if rs == nil {
		return 0, ErrClosed
	}
	defer rs.unref()
	return db.estimateDiskUsage(rs.version.Version, start, end)
}

// EstimateSplitKey returns a user key k with start < k < end (a nil or
// empty bound is unbounded) such that about half of the bytes that
// EstimateDiskUsage(start, end) counts lie below k. The key is the caller's
// own copy.
//
// It reads the index of every table overlapping the range: each data block
// inside the range contributes its index separator and its size; sorted by
// separator across all tables and levels, the blocks are added up to the
// separator closest to half of the total. k is therefore an index
// separator, which may be a shortened key that was never written (between
// "apple" and "banana" a table may store "b"): any key strictly inside the
// range serves to split it. The split is off by at most about one data
// block for each table holding keys on both sides of k (at most one per
// level, and the L0 tables), or in a range of more than 16384 blocks one
// run of adjacent blocks of 1/16384 of the range each. No data block is read; memtables
// are not counted.
//
// It returns ErrNotFound when there is no such key: the range holds no
// stored data, or too little (a single block) to have a split point
// inside. Other errors are those of EstimateDiskUsage.
func (db *DB) EstimateSplitKey(start, end []byte) ([]byte, error) {
	start, end, err := db.checkEstimateBounds("EstimateSplitKey", start, end)
	if err != nil {
		return nil, err
	}
	rs := db.loadReadState()
	if rs == nil {
		return nil, ErrClosed
	}
	defer rs.unref()
	v := rs.version.Version
	total, err := db.estimateDiskUsage(v, start, end)
	if err != nil {
		return nil, err
	}
	if total == 0 {
		return nil, ErrNotFound
	}
	blocks, err := db.splitBlocks(v, start, end, max(total/splitResolution, 1))
	if err != nil {
		return nil, err
	}
	if k := splitKey(blocks, start, end); k != nil {
		return k, nil
	}
	return nil, ErrNotFound
}

// checkEstimateBounds validates the bounds of an estimate and returns them
// with an empty bound made nil (unbounded).
func (db *DB) checkEstimateBounds(op string, start, end []byte) ([]byte, []byte, error) {
	if db.closed.Load() {
		return nil, nil, ErrClosed
	}
	if len(start) == 0 {
		start = nil
	}
	if len(end) == 0 {
		end = nil
	}
	if start != nil && end != nil && db.comparer.Compare(start, end) > 0 {
		return nil, nil, fmt.Errorf("%w: %s start %q is above end %q", ErrInvalidArgument, op, start, end)
	}
	return start, end, nil
}

// estimateDiskUsage is EstimateDiskUsage in version v.
func (db *DB) estimateDiskUsage(v *manifest.Version, start, end []byte) (uint64, error) {
	var total uint64
	err := db.eachOverlapping(v, start, end, func(f *manifest.FileMetadata) error {
		if db.within(f, start, end) {
			total += f.Size // no need to open the table
			return nil
		}
		return db.withTable(f, func(r *sstable.Reader) error {
			n, err := r.EstimateDiskUsage(start, end)
			total += n
			return err
		})
	})
	return total, err
}

// splitEntry is a run of adjacent data blocks of one table: the index
// separator of its last block, and its bytes.
type splitEntry struct {
	key  []byte
	size uint64
}

// splitBlocks returns the data blocks of v's tables in [start, end), by
// their index entries, adjacent blocks of a table merged into runs of at
// least grain bytes (the last run of a table may be smaller).
func (db *DB) splitBlocks(v *manifest.Version, start, end []byte, grain uint64) ([]splitEntry, error) {
	var out []splitEntry
	err := db.eachOverlapping(v, start, end, func(f *manifest.FileMetadata) error {
		return db.withTable(f, func(r *sstable.Reader) error {
			var run uint64
			var last []byte
			err := r.IndexEntries(start, end, func(e sstable.IndexEntry) {
				run += e.Size()
				last = append(last[:0], e.Separator...) // valid only during the call
				if run >= grain {
					out = append(out, splitEntry{key: bytes.Clone(last), size: run})
					run = 0
				}
			})
			if run > 0 {
				out = append(out, splitEntry{key: bytes.Clone(last), size: run})
			}
			return err
		})
	})
	return out, err
}

// splitKey returns the separator strictly inside (start, end) with the
// bytes of the entries at or below it closest to half of all entries'
// bytes, leaving some bytes above it; nil when none qualifies. It sorts
// entries.
func splitKey(entries []splitEntry, start, end []byte) []byte {
	slices.SortFunc(entries, func(a, b splitEntry) int { return bytes.Compare(a.key, b.key) })
	var total uint64
	for _, e := range entries {
		total += e.size
	}
	var best []byte
	var below, bestDist uint64
	for i := 0; i < len(entries); {
		k := entries[i].key
		for ; i < len(entries) && bytes.Equal(entries[i].key, k); i++ {
			below += entries[i].size
		}
		if below >= total || (start != nil && bytes.Compare(k, start) <= 0) || (end != nil && bytes.Compare(k, end) >= 0) {
			continue
		}
		// |2*below - total|: twice the distance from the half-way point.
		dist := max(2*below, total) - min(2*below, total)
		if best == nil || dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return best
}

// eachOverlapping calls fn with every table of v whose key range meets
// [start, end) (nil: unbounded), level by level, stopping at an error.
func (db *DB) eachOverlapping(v *manifest.Version, start, end []byte, fn func(*manifest.FileMetadata) error) error {
	cmp := db.comparer.Compare
	for level, files := range v.Levels {
		if level > 0 {
			// Sorted and disjoint: skip to the first table that ends at
			// or after start.
			i := 0
			if start != nil {
				i = sort.Search(len(files), func(i int) bool { return cmp(files[i].Largest.UserKey, start) >= 0 })
			}
			files = files[i:]
		}
		for _, f := range files {
			if !overlapsBounds(cmp, f.Smallest.UserKey, f.Largest.UserKey, start, end) {
				if level > 0 {
					break // every later table starts at or after end
				}
				continue
			}
			if err := fn(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// within reports whether every key of f lies in [start, end).
func (db *DB) within(f *manifest.FileMetadata, start, end []byte) bool {
	cmp := db.comparer.Compare
	return (start == nil || cmp(start, f.Smallest.UserKey) <= 0) && (end == nil || cmp(f.Largest.UserKey, end) < 0)
}

// withTable calls fn with the open table f, released afterwards.
func (db *DB) withTable(f *manifest.FileMetadata, fn func(*sstable.Reader) error) error {
	r, release, err := db.tableCache.get(f)
	if err != nil {
		return err
	}
	defer release()
	return fn(r)
}
