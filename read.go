package dkv

import (
	"errors"
	"fmt"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/memtable"
	"github.com/distributedkv/dkv/sstable"
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

// Has reports whether key has a value. It does the work of Get (the value's
// block is read either way) and drops the value.
func (db *DB) Has(key []byte) (bool, error) {
	_, err := db.Get(key)
	return found(err)
}

// found turns Get's error into Has's answer.
func found(err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
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
//
// Each source (memtable, table) answers with the newest version of key it
// holds at or below the sequence number, and the newest of its range
// tombstones covering key; the first source with either decides. Sources
// further down only hold older versions of key and older tombstones over
// it: a level's table covering key holds everything that level has about
// key, and compaction moves data down in sequence-number order.
func (db *DB) get(key []byte, snapshot *base.SeqNum) ([]byte, error) {
	return db.getTraced(key, snapshot, nil)
}

// getTraced is get, reporting each step to tr when tr is not nil (see
// ReadOptions.Trace).
func (db *DB) getTraced(key []byte, snapshot *base.SeqNum, tr func(TraceEvent)) ([]byte, error) {
	rs := db.loadReadState()
	if rs == nil {
		return nil, ErrClosed
	}
	defer rs.unref()
	seq := db.readSeq(snapshot)
	if v, ok := getFromMem(rs.mem, key, seq, 0, tr); ok {
		return v, nil
	} else if v != nil {
		return nil, ErrNotFound
	}
	for i, m := range rs.imm {
		if v, ok := getFromMem(m, key, seq, i+1, tr); ok {
			return v, nil
		} else if v != nil {
			return nil, ErrNotFound
		}
	}
	return db.getFromTables(rs.version.Version, key, seq, tr)
}

// deleted is what getFromMem returns for a key the memtable deletes.
var deleted = []byte{}

// getFromMem asks one memtable for key at seq: ok with a copy of the value
// when it holds a live version, deleted when its newest word on key is a
// tombstone or a range tombstone, and nil when it knows nothing of key.
// imm and trace are for tracing (see getTraced): which memtable this is
// (0: the mutable one), and where the steps go (nil: nowhere).
func getFromMem(m *memtable.MemTable, key []byte, seq base.SeqNum, imm int, trace func(TraceEvent)) (v []byte, ok bool) {
	var filter string
	if trace != nil {
		filter = memFilterAnswer(m, key) // before Get, which asks it too
	}
	rd, covered := m.RangeDels().Covering(key, seq)
	val, tr, found := m.Get(key, seq)
	if trace != nil {
		traceMem(trace, filter, imm, tr, found, rd, covered)
	}
	switch {
	case found && (!covered || tr.SeqNum() > rd):
		if tr.Kind() != base.KindSet {
			if trace != nil {
				traceDeleted(trace, tr, found, rd, covered)
			}
			return deleted, false
		}
		out := make([]byte, len(val)) // never nil: an empty value is found
		copy(out, val)
		if trace != nil {
			trace(&ReadResultTrace{Found: true, Seq: tr.SeqNum(), Kind: tr.Kind(), Reason: "the newest visible version is in a memtable"})
		}
		return out, true
	case found || covered:
		if trace != nil {
			traceDeleted(trace, tr, found, rd, covered)
		}
		return deleted, false
	}
	return nil, false
}

// memFilterAnswer is what m's key filter says of key, for a trace.
func memFilterAnswer(m *memtable.MemTable, key []byte) string {
	switch may, has := m.MayContain(key); {
	case !has:
		return "no filter"
	case may:
		return "may contain"
	}
	return "absent"
}

// traceMem reports a memtable's answer.
func traceMem(trace func(TraceEvent), filter string, imm int, tr base.Trailer, found bool, rd base.SeqNum, covered bool) {
	t := &MemTableTrace{Immutable: imm, Filter: filter}
	if found {
		t.Found, t.Seq, t.Kind = true, tr.SeqNum(), tr.Kind()
	}
	if covered {
		t.RangeDelSeq = rd
	}
	trace(t)
}

// traceDeleted ends a traced read that a tombstone or a range tombstone
// decided.
func traceDeleted(trace func(TraceEvent), tr base.Trailer, found bool, rd base.SeqNum, covered bool) {
	if found && (!covered || tr.SeqNum() > rd) {
		trace(&ReadResultTrace{Seq: tr.SeqNum(), Kind: tr.Kind(), Reason: "the newest visible version is a deletion"})
		return
	}
	trace(&ReadResultTrace{Seq: rd, Kind: base.KindRangeDelete, Reason: "a range deletion covers every older version"})
}

// getFromTables looks key up in the version's tables. Each L0 table
// searched in vain — its bloom filter let the key through, a block was
// read, the key was not there — before the lookup goes on to another table
// is charged a wasted read: L0 tables below the count threshold would
// otherwise stay for ever, and every read would pay for them (see
// compaction.PickRead). A table its filter ruled out cost next to nothing
// and is not charged. Iterators charge tables too (Iterator.sampled).
func (db *DB) getFromTables(v *manifest.Version, key []byte, seq base.SeqNum, trace func(TraceEvent)) ([]byte, error) {
	cmp := db.comparer.Compare
	var wasted *manifest.FileMetadata // the last L0 table searched in vain
	for _, f := range v.Levels[0] {
		if f.SmallestSeq > seq || !f.ContainsUserKey(cmp, key) {
			if trace != nil {
				reason := fmt.Sprintf("range [%q, %q] does not hold the key", f.Smallest.UserKey, f.Largest.UserKey)
				if f.SmallestSeq > seq {
					reason = "every version in it is newer than the read"
				}
				trace(&LevelTrace{Level: 0, File: f.FileNum, Reason: reason})
			}
			continue
		}
		db.chargeWastedRead(wasted)
		wasted = nil
		v, kind, ok, searched, err := db.getFromTable(f, 0, key, seq, trace)
		if err != nil || ok {
			return foundErr(v, kind, err)
		}
		if searched {
			wasted = f
		}
	}
	for level := 1; level < manifest.NumLevels; level++ {
		files := v.Levels[level]
		// The first table that does not end below key is the only one that
		// can hold it.
		i := manifest.FindFile(cmp, files, key)
		if i == len(files) || !files[i].ContainsUserKey(cmp, key) {
			if trace != nil && len(files) > 0 {
				trace(&LevelTrace{Level: level, Reason: fmt.Sprintf("none of its %d tables' ranges holds the key", len(files))})
			}
			continue
		}
		db.chargeWastedRead(wasted)
		wasted = nil
		if v, kind, ok, _, err := db.getFromTable(files[i], level, key, seq, trace); err != nil || ok {
			return foundErr(v, kind, err)
		}
	}
	if trace != nil {
		trace(&ReadResultTrace{Reason: "no memtable or level holds a version of the key"})
	}
	return nil, ErrNotFound
}

// chargeWastedRead charges f (if not nil) a read that searched it in vain.
func (db *DB) chargeWastedRead(f *manifest.FileMetadata) {
	if f != nil && f.ChargeWastedRead() {
		db.requestReadCompaction(f)
	}
}

// getFromTable asks one table for key: ok is false when the table knows
// nothing of it at seq. A range tombstone of the table that covers key
// and is newer than the table's version of it answers KindDelete. The
// value is copied before the table is released.
func (db *DB) getFromTable(f *manifest.FileMetadata, level int, key []byte, seq base.SeqNum, trace func(TraceEvent)) (value []byte, kind base.Kind, ok, searched bool, err error) {
	r, release, err := db.tableCache.get(f)
	if err != nil {
		return nil, 0, false, false, err
	}
	defer release()
	rd, covered := r.RangeDels().Covering(key, seq)
	var v []byte
	var tr base.Trailer
	if trace == nil {
		v, tr, ok, searched, err = r.Lookup(key, seq)
	} else {
		v, tr, ok, searched, err = lookupTraced(r, f, level, key, seq, rd, covered, trace)
	}
	if err != nil {
		return nil, 0, false, searched, err
	}
	if covered && (!ok || tr.SeqNum() < rd) {
		if trace != nil {
			traceDeleted(trace, tr, ok, rd, covered)
		}
		return nil, base.KindDelete, true, searched, nil
	}
	if !ok {
		return nil, 0, false, searched, nil
	}
	switch tr.Kind() {
	case base.KindDelete:
		if trace != nil {
			traceDeleted(trace, tr, ok, rd, covered)
		}
		return nil, base.KindDelete, true, searched, nil
	case base.KindSet:
		if trace != nil {
			trace(&ReadResultTrace{Found: true, Seq: tr.SeqNum(), Kind: tr.Kind(), Reason: fmt.Sprintf("the newest visible version is in L%d", level)})
		}
	default:
		return nil, 0, false, searched, base.CorruptionErrorf(f.FileNum.String()+".sst", 0, "dkv: %q#%d has kind %s in a data block", key, tr.SeqNum(), tr.Kind())
	}
	return v, base.KindSet, true, searched, nil // Lookup's copy: the caller's
}

// lookupTraced is Reader.Lookup for a traced read: it reports the table's
// answer (rd and covered are its range tombstones' over key).
func lookupTraced(r *sstable.Reader, f *manifest.FileMetadata, level int, key []byte, seq base.SeqNum,
	rd base.SeqNum, covered bool, trace func(TraceEvent)) (v []byte, tr base.Trailer, ok, searched bool, err error) {
	var st sstable.GetTrace
	v, tr, ok, err = r.GetTraced(key, seq, &st)
	t := &TableTrace{Level: level, File: f.FileNum, Smallest: f.Smallest.UserKey, Largest: f.Largest.UserKey,
		Filter: st.Filter, Blocks: st.Blocks, Found: ok}
	if ok {
		t.Seq, t.Kind = tr.SeqNum(), tr.Kind()
	}
	if covered {
		t.RangeDelSeq = rd
	}
	trace(t)
	return v, tr, ok, st.Filter != sstable.FilterAbsent, err
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

// readSeq is the sequence number a read uses: the snapshot's, or the latest
// published one. Call it after loading the read state (see get).
func (db *DB) readSeq(snapshot *base.SeqNum) base.SeqNum {
	if snapshot != nil {
		return *snapshot
	}
	return base.SeqNum(db.visible.Load())
}
