package manifest

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/distributedkv/dkv/internal/base"
)

// NumLevels is the number of levels of the LSM: L0 (tables flushed from
// memtables, which may overlap) and L1 to L6 (each a sorted run of
// non-overlapping tables).
const NumLevels = 7

// FileMetadata describes one table of a version. It is immutable once it is
// part of a version.
type FileMetadata struct {
	FileNum     base.FileNum
	Size        uint64 // bytes on disk
	Smallest    base.InternalKey
	Largest     base.InternalKey
	SmallestSeq base.SeqNum
	LargestSeq  base.SeqNum
	// HasRangeDels says the table holds range tombstones, which every
	// read of its key range must consult (iterators load them up front).
	HasRangeDels bool

	// wastedReads counts point reads that searched this table (past its
	// bloom filter), found nothing and went on to another table (see
	// ChargeWastedRead). It is not persisted: it starts again at Open.
	wastedReads atomic.Int64
}

// wastedReadBytes is how many bytes of a table one wasted read stands
// for: a table runs out of patience after Size/wastedReadBytes wasted
// reads (at least minWastedReads). LevelDB's rule of thumb, which prices a
// read that finds nothing in a table like compacting 16 KiB of it.
const (
	wastedReadBytes = 16 << 10
	minWastedReads  = 100
)

// ChargeWastedRead records a point read that searched f, found nothing and
// had to search another table. It reports true, once, when the reads wasted
// on f are worth a compaction that would save them.
func (f *FileMetadata) ChargeWastedRead() bool {
	budget := max(int64(f.Size/wastedReadBytes), minWastedReads)
	if f.wastedReads.Load() >= budget {
		return false // already reported: no need to contend on the counter
	}
	return f.wastedReads.Add(1) == budget
}

// String formats the file as 000007.sst[a#3,SET-z#9,DEL].
func (f *FileMetadata) String() string {
	return fmt.Sprintf("%s.sst[%s-%s]", f.FileNum, f.Smallest, f.Largest)
}

// ContainsUserKey reports whether key lies in the file's user-key range. A
// largest key that is a range tombstone's exclusive end
// (base.InternalKey.IsExclusiveSentinel) leaves its user key out.
func (f *FileMetadata) ContainsUserKey(cmp base.Compare, key []byte) bool {
	return cmp(f.Smallest.UserKey, key) <= 0 && !f.EndsBefore(cmp, key)
}

// EndsBefore reports whether every key of the file is below user key k.
func (f *FileMetadata) EndsBefore(cmp base.Compare, k []byte) bool {
	c := cmp(f.Largest.UserKey, k)
	return c < 0 || (c == 0 && f.Largest.IsExclusiveSentinel())
}

// FindFile returns the index of the only table of a sorted level (1 and
// below) whose range can hold user key k: the first that does not end
// before k. It returns len(files) when k is past them all; the table found
// may still start above k (ContainsUserKey tells).
func FindFile(cmp base.Compare, files []*FileMetadata, k []byte) int {
	return sort.Search(len(files), func(i int) bool { return !files[i].EndsBefore(cmp, k) })
}

// Version is the set of tables that make up the database at one moment. A
// Version is immutable: an edit makes a new one (Apply), and readers that
// hold a Version see it unchanged.
//
// Levels[0] is ordered newest first (by LargestSeq, then file number), the
// order reads consult it. Levels 1 and below are ordered by smallest key and
// never overlap, not even in one user key: a read looks in one table per
// level.
type Version struct {
	Levels [NumLevels][]*FileMetadata
}

// NumFiles returns the number of tables in the version.
func (v *Version) NumFiles() int {
	n := 0
	for _, l := range v.Levels {
		n += len(l)
	}
	return n
}

// LevelSize returns the bytes of the tables in level.
func (v *Version) LevelSize(level int) uint64 {
	var n uint64
	for _, f := range v.Levels[level] {
		n += f.Size
	}
	return n
}

// Files returns every table of the version, by level.
func (v *Version) Files() []*FileMetadata {
	var out []*FileMetadata
	for _, l := range v.Levels {
		out = append(out, l...)
	}
	return out
}

// Apply returns the version made by applying edit's deleted and new files to
// v. It checks the result: a deleted file must exist, a file may appear only
// once, and levels 1 and below must not overlap. v is unchanged.
func (v *Version) Apply(cmp base.Compare, edit *VersionEdit) (*Version, error) {
	out := &Version{}
	deleted := map[DeletedFile]bool{}
	for _, d := range edit.DeletedFiles {
		deleted[d] = true
	}
	for _, nf := range edit.NewFiles {
		if base.InternalCompare(cmp, nf.Meta.Smallest, nf.Meta.Largest) > 0 {
			return nil, fmt.Errorf("manifest: edit adds %s, whose smallest key is above its largest", nf.Meta)
		}
	}
	seen := map[base.FileNum]bool{}
	for level := range v.Levels {
		for _, f := range v.Levels[level] {
			if deleted[DeletedFile{Level: level, FileNum: f.FileNum}] {
				delete(deleted, DeletedFile{Level: level, FileNum: f.FileNum})
				continue
			}
			out.Levels[level] = append(out.Levels[level], f)
			seen[f.FileNum] = true
		}
	}
	for _, d := range edit.DeletedFiles { // in the edit's order, for a stable message
		if deleted[d] {
			return nil, fmt.Errorf("manifest: edit deletes %s from L%d, which does not hold it", d.FileNum, d.Level)
		}
	}
	for _, nf := range edit.NewFiles {
		if nf.Level < 0 || nf.Level >= NumLevels {
			return nil, fmt.Errorf("manifest: edit adds %s to level %d", nf.Meta.FileNum, nf.Level)
		}
		if seen[nf.Meta.FileNum] {
			return nil, fmt.Errorf("manifest: edit adds %s, which the version already holds", nf.Meta.FileNum)
		}
		seen[nf.Meta.FileNum] = true
		out.Levels[nf.Level] = append(out.Levels[nf.Level], nf.Meta)
	}
	sortLevel0(out.Levels[0])
	for level := 1; level < NumLevels; level++ {
		files := out.Levels[level]
		slices.SortFunc(files, func(a, b *FileMetadata) int {
			return base.InternalCompare(cmp, a.Smallest, b.Smallest)
		})
		for i := 1; i < len(files); i++ {
			// By user key: a read looks in one table per level, so no user
			// key may span two tables of a level.
			if !files[i-1].EndsBefore(cmp, files[i].Smallest.UserKey) {
				return nil, fmt.Errorf("manifest: L%d tables %s and %s overlap", level, files[i-1], files[i])
			}
		}
	}
	return out, nil
}

// sortLevel0 orders L0 newest first.
func sortLevel0(files []*FileMetadata) {
	slices.SortFunc(files, func(a, b *FileMetadata) int {
		if a.LargestSeq != b.LargestSeq {
			if a.LargestSeq > b.LargestSeq {
				return -1
			}
			return 1
		}
		switch {
		case a.FileNum > b.FileNum:
			return -1
		case a.FileNum < b.FileNum:
			return 1
		}
		return 0
	})
}

// SnapshotEdit returns an edit that recreates v from an empty version: the
// first record of a new MANIFEST.
func (v *Version) SnapshotEdit() *VersionEdit {
	e := &VersionEdit{}
	for level, files := range v.Levels {
		for _, f := range files {
			e.NewFiles = append(e.NewFiles, NewFile{Level: level, Meta: f})
		}
	}
	return e
}

// String lists the version's tables per level, one per line.
func (v *Version) String() string {
	var b strings.Builder
	for level, files := range v.Levels {
		if len(files) == 0 {
			continue
		}
		fmt.Fprintf(&b, "L%d:\n", level)
		for _, f := range files {
			fmt.Fprintf(&b, "  %s %d bytes, seqs %d-%d\n", f, f.Size, f.SmallestSeq, f.LargestSeq)
		}
	}
	return b.String()
}

// CheckOrdering verifies the version's invariants: L0 newest first, each
// file's smallest key at most its largest, levels 1 and below sorted and
// non-overlapping. Tests run it after every change.
func (v *Version) CheckOrdering(cmp base.Compare) error {
	for level, files := range v.Levels {
		for i, f := range files {
			if base.InternalCompare(cmp, f.Smallest, f.Largest) > 0 {
				return fmt.Errorf("manifest: L%d %s: smallest key above largest", level, f)
			}
			if i == 0 {
				continue
			}
			prev := files[i-1]
			if level == 0 {
				if prev.LargestSeq < f.LargestSeq {
					return fmt.Errorf("manifest: L0 %s is older than %s but listed first", prev, f)
				}
			} else if !prev.EndsBefore(cmp, f.Smallest.UserKey) {
				return fmt.Errorf("manifest: L%d %s and %s overlap or are out of order", level, prev, f)
			}
		}
	}
	return nil
}

// cloneKey returns an internal key that owns its user key.
func cloneKey(k base.InternalKey) base.InternalKey {
	return base.InternalKey{UserKey: bytes.Clone(k.UserKey), Trailer: k.Trailer}
}
