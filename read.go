package dkv

import (
	"sort"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
)

// Get returns the value of key: the caller's own copy, which stays valid and
// unchanged however the DB changes. It returns ErrNotFound when the key has
// no value. Get sees every write whose Put, Delete or Write call returned
// before Get was called.
//
// The read path: the mutable memtable, the full memtables newest first,
// the L0 tables newest first, then at most one table per deeper level. The
// first version found answers — a tombstone hides everything below it.
// Tables whose key range or bloom filter excludes the key are skipped
// without reading a data block.
func (db *DB) Get(key []byte) ([]byte, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return db.get(key, nil)
}

// get reads key as of a snapshot's sequence number, or of the latest one
// when snapshot is nil.
//
// The read state is loaded before the latest sequence number, not after:
// a compaction installed in between may already have dropped versions that
// were visible at an earlier number, once newer ones hid them. Loaded
// after, the number may cover writes of a memtable that rotated in after
// the state was taken; the read then simply does not see them, and still
// sees a consistent prefix of the history that holds every write
// acknowledged before the read began.
func (db *DB) get(key []byte, snapshot *base.SeqNum) ([]byte, error) {
	rs := db.loadReadState()
	defer rs.unref()
	seq := db.readSeq(snapshot)
	if v, tr, ok := rs.mem.Get(key, seq); ok {
		return found(v, tr.Kind())
	}
	for _, m := range rs.imm {
		if v, tr, ok := m.Get(key, seq); ok {
			return found(v, tr.Kind())
		}
	}
	return db.getFromTables(rs.version.Version, key, seq)
}

// getFromTables looks key up in the version's tables.
func (db *DB) getFromTables(v *manifest.Version, key []byte, seq base.SeqNum) ([]byte, error) {
	for _, f := range v.Levels[0] {
		if f.SmallestSeq > seq || !f.ContainsUserKey(db.comparer.Compare, key) {
			continue
		}
		if v, kind, ok, err := db.getFromTable(f, key, seq); err != nil || ok {
			return foundErr(v, kind, err)
		}
	}
	for level := 1; level < manifest.NumLevels; level++ {
		files := v.Levels[level]
		// The first table whose largest key is >= key is the only one that
		// can hold it.
		i := sort.Search(len(files), func(i int) bool {
			return db.comparer.Compare(files[i].Largest.UserKey, key) >= 0
		})
		if i == len(files) || db.comparer.Compare(files[i].Smallest.UserKey, key) > 0 {
			continue
		}
		if v, kind, ok, err := db.getFromTable(files[i], key, seq); err != nil || ok {
			return foundErr(v, kind, err)
		}
	}
	return nil, ErrNotFound
}

// getFromTable asks one table for key. The value is copied before the table
// is released.
func (db *DB) getFromTable(f *manifest.FileMetadata, key []byte, seq base.SeqNum) ([]byte, base.Kind, bool, error) {
	r, release, err := db.tableCache.get(f)
	if err != nil {
		return nil, 0, false, err
	}
	defer release()
	v, tr, ok, err := r.Get(key, seq)
	if err != nil || !ok {
		return nil, 0, false, err
	}
	if tr.Kind() == base.KindDelete {
		return nil, base.KindDelete, true, nil
	}
	out := make([]byte, len(v))
	copy(out, v)
	return out, base.KindSet, true, nil
}

func foundErr(v []byte, kind base.Kind, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if kind == base.KindDelete {
		return nil, ErrNotFound
	}
	return v, nil
}

func found(v []byte, kind base.Kind) ([]byte, error) {
	if kind == base.KindDelete {
		return nil, ErrNotFound
	}
	out := make([]byte, len(v)) // never nil: an empty value is found
	copy(out, v)
	return out, nil
}

// readSeq is the sequence number a read uses: the snapshot's, or the latest
// published one. Call it after loading the read state (see get).
func (db *DB) readSeq(snapshot *base.SeqNum) base.SeqNum {
	if snapshot != nil {
		return *snapshot
	}
	return base.SeqNum(db.visible.Load())
}
