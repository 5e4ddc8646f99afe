package dkv

import (
	"fmt"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/invariants"
	"github.com/distributedkv/dkv/internal/rangedel"
	"github.com/distributedkv/dkv/manifest"
)

// checkInvariantsOnClose verifies the LSM when the invariants build tag is
// on (tests): see checkLSM.
func (db *DB) checkInvariantsOnClose() error {
	if !invariants.Enabled {
		return nil
	}
	return db.checkLSM()
}

// checkLSM verifies the invariants of the current version against the
// files on disk and the table contents:
//
//   - L0 is ordered newest first; levels 1 and below are sorted and do not
//     overlap, not even in one user key;
//   - each table's sequence numbers lie within [SmallestSeq, LargestSeq],
//     at most the last published sequence number, and its first and last
//     keys are the ones the MANIFEST records;
//   - every table the version names exists with the recorded size, and
//     its entries are in strictly increasing internal-key order.
func (db *DB) checkLSM() error {
	db.mu.Lock()
	v := db.mu.version
	v.ref()
	db.mu.Unlock()
	defer v.unref()
	cmp := db.comparer.Compare
	if err := v.CheckOrdering(cmp); err != nil {
		return fmt.Errorf("dkv: invariant: %w", err)
	}
	last := base.SeqNum(db.visible.Load())
	for level, files := range v.Levels {
		for _, f := range files {
			if err := db.checkTable(level, f, last); err != nil {
				return fmt.Errorf("dkv: invariant: L%d %s: %w", level, f, err)
			}
		}
	}
	return nil
}

func (db *DB) checkTable(level int, f *manifest.FileMetadata, last base.SeqNum) error {
	if f.SmallestSeq > f.LargestSeq || f.LargestSeq > last {
		return fmt.Errorf("sequence numbers %d-%d outside [0, %d]", f.SmallestSeq, f.LargestSeq, last)
	}
	path := db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeTable, f.FileNum))
	st, err := db.fs.Stat(path)
	if err != nil {
		return err
	}
	if uint64(st.Size()) != f.Size {
		return fmt.Errorf("file is %d bytes, the MANIFEST says %d", st.Size(), f.Size)
	}
	r, release, err := db.tableCache.get(f)
	if err != nil {
		return err
	}
	spans := r.RangeDels().Spans()
	release()
	for _, s := range spans {
		if s.Seqs[len(s.Seqs)-1] < f.SmallestSeq || s.Seqs[0] > f.LargestSeq {
			return fmt.Errorf("range tombstone %s outside the sequence numbers %d-%d", s, f.SmallestSeq, f.LargestSeq)
		}
	}
	it, err := db.newTableIter(f)
	if err != nil {
		return err
	}
	defer it.Close()
	cmp := db.comparer.Compare
	var first, prev base.InternalKey
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if !k.Kind().IsPoint() {
			return fmt.Errorf("key %s in a data block", k)
		}
		if n == 0 {
			first = base.InternalKey{UserKey: append([]byte(nil), k.UserKey...), Trailer: k.Trailer}
		}
		if n > 0 && base.InternalCompare(cmp, prev, k) >= 0 {
			return fmt.Errorf("key %s after %s", k, prev)
		}
		if k.SeqNum() < f.SmallestSeq || k.SeqNum() > f.LargestSeq {
			return fmt.Errorf("key %s outside the sequence numbers %d-%d", k, f.SmallestSeq, f.LargestSeq)
		}
		prev = base.InternalKey{UserKey: append(prev.UserKey[:0], k.UserKey...), Trailer: k.Trailer}
		n++
	}
	if err := it.Error(); err != nil {
		return err
	}
	smallest, largest, ok := rangedel.TableBounds(cmp, first, prev, n > 0, spans)
	if !ok {
		return fmt.Errorf("the table holds no key and no range tombstone")
	}
	if base.InternalCompare(cmp, smallest, f.Smallest) != 0 || base.InternalCompare(cmp, largest, f.Largest) != 0 {
		return fmt.Errorf("keys and range tombstones span %s-%s, the MANIFEST says %s-%s", smallest, largest, f.Smallest, f.Largest)
	}
	return nil
}
