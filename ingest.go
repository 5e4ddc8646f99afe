package dkv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/distributedkv/dkv/compaction"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/sstable"
	"github.com/distributedkv/dkv/vfs"
)

// Ingest adds the tables at paths to the database, atomically: readers see
// all of their keys at once, or none, and after a crash either all of them
// are in the database or none is. It is the fast path for bulk loads and
// for installing a copy of a key range (a shard snapshot): the keys skip
// the write-ahead log, the memtable and the compactions that would carry
// them down the levels.
//
// The tables are written with sstable.NewWriter and its Set, Delete and
// DeleteRange methods (sequence number 0, each user key once), and must
// not overlap one another. Ingest gives all their keys one new sequence
// number, newer than every write before it: an ingested key replaces the
// database's versions of it, an ingested deletion or range deletion hides
// them. Each table goes to the lowest level where nothing in it or above
// it overlaps the table's keys (the bottom level, for a key range the
// database does not hold yet), so that it needs no compaction to get
// there.
//
// How: Ingest first checks every table whole (checksums, kinds, order,
// key and value limits, sequence numbers); a bad table is refused with
// ErrInvalidArgument or ErrCorruption and nothing changes. Then, with
// writes held back, it flushes the memtables (their keys are older and
// must not sit above the new ones), takes the next sequence number,
// rewrites each table into the database directory stamped with it —
// one sequential pass; the files at paths are left as they are — and
// records them in the MANIFEST in one edit. Writes wait for that
// rewrite: ingest large tables when a pause is acceptable. (Pebble and
// RocksDB avoid the rewrite by keeping the sequence number in the table's
// metadata; dkv may do so later.)
func (db *DB) Ingest(paths []string) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if db.opts.ReadOnly {
		return ErrReadOnly
	}
	if len(paths) == 0 {
		return nil
	}
	ext := make([]*externalTable, 0, len(paths))
	defer func() {
		for _, e := range ext {
			_ = e.r.Close()
		}
	}()
	for _, p := range paths {
		e, err := db.openExternal(p)
		if err != nil {
			return err
		}
		ext = append(ext, e)
	}
	cmp := db.comparer.Compare
	slices.SortFunc(ext, func(a, b *externalTable) int { return cmp(a.lo, b.lo) })
	for i := 1; i < len(ext); i++ {
		if cmp(ext[i-1].hi, ext[i].lo) > 0 || (cmp(ext[i-1].hi, ext[i].lo) == 0 && !ext[i-1].hiExclusive) {
			return fmt.Errorf("%w: ingest: %s and %s overlap", ErrInvalidArgument, ext[i-1].path, ext[i].path)
		}
	}

	db.commit.Lock()
	defer db.commit.Unlock()
	target, err := db.queueFlushLocked()
	if err == nil {
		err = db.waitFlushed(target)
	}
	if err != nil {
		return err
	}
	seq := db.commit.nextSeq
	if seq > base.SeqNumMax {
		return fmt.Errorf("dkv: sequence numbers exhausted")
	}

	var written []*manifest.FileMetadata
	removeWritten := func() {
		for _, m := range written {
			_ = db.fs.Remove(db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeTable, m.FileNum)))
		}
	}
	for _, e := range ext {
		m, err := db.rewriteExternal(e, seq)
		if err != nil {
			removeWritten()
			return err
		}
		written = append(written, m)
	}
	if err := vfs.SyncDir(db.fs, db.dir); err != nil {
		removeWritten()
		return fmt.Errorf("dkv: ingest: %w", err)
	}

	// The levels are chosen from the newest version, under the version
	// set's lock, and reserved under db.mu before it is released: a
	// compaction planned before the new version is installed (from the
	// version without these tables) must not write over the places they
	// go to, or the MANIFEST would refuse its edit (overlapping tables in
	// one level) and stop the DB. The reservations end once the version
	// holding the tables is installed, or the edit failed.
	levels := make([]int, len(written))
	var reserved []compaction.KeyRange
	defer func() {
		if reserved == nil {
			return
		}
		db.mu.Lock()
		for i, r := range reserved {
			if levels[i] > 0 {
				db.releaseOutputLocked(levels[i], r)
			}
		}
		db.mu.cond.Broadcast() // a Compact waiting for these ranges
		db.maybeScheduleCompactionLocked()
		db.mu.Unlock()
	}()
	err = db.versions.logAndApplyBuild(func(v *manifest.Version) (*manifest.VersionEdit, error) {
		db.mu.Lock()
		busy := db.mu.compactions.busy
		reserved = make([]compaction.KeyRange, len(written))
		for i, m := range written {
			levels[i] = ingestLevel(cmp, v, busy, m)
			reserved[i] = compaction.KeyRange{Lo: m.Smallest.UserKey, Hi: m.Largest.UserKey}
			if levels[i] > 0 { // L0 tables may overlap: nothing to keep out
				db.reserveOutputLocked(levels[i], reserved[i])
			}
		}
		db.mu.Unlock()
		edit := &manifest.VersionEdit{LastSeqNum: seq}
		for i, m := range written {
			edit.NewFiles = append(edit.NewFiles, manifest.NewFile{Level: levels[i], Meta: m})
		}
		return edit, nil
	}, func(v *manifest.Version) {
		// seq is published before the tables are installed: a reader
		// that sees them reads at seq or above, and a snapshot taken
		// before is in the list the next compaction keeps versions for.
		// (The other way round, a compaction started in between could
		// merge an ingested key with the version below it and drop that
		// one, which a reader at seq-1 still needed.) A reader that loads
		// seq with the version before this one sees the DB as it was
		// before the ingest: writes are held back and the memtables are
		// flushed, so nothing else carries seq.
		db.commit.nextSeq = seq + 1
		db.mu.Lock()
		db.pub.Lock()
		db.pub.applied = seq
		db.publishLocked()
		db.pub.Unlock()
		db.installVersionLocked(v, nil, nil)
		db.publishReadStateLocked()
		db.maybeScheduleCompactionLocked()
		db.mu.Unlock()
	})
	if err != nil {
		// What the MANIFEST holds is unknown: fail-stop. The tables are
		// orphans the next Open removes, unless the edit is there.
		return db.stopWrites(fmt.Errorf("ingest: %w", err))
	}

	for i, m := range written {
		path := db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeTable, m.FileNum))
		if db.events.TableCreated != nil {
			db.events.TableCreated(TableInfo{FileNum: m.FileNum, Path: path, Size: m.Size, Level: levels[i]})
		}
		db.logger.Info("dkv: ingested a table", "from", ext[i].path, "table", m.FileNum, "level", levels[i], "bytes", m.Size, "seq", seq)
	}
	return nil
}

// externalTable is a table given to Ingest, checked, with its user-key
// range: [lo, hi], or [lo, hi) when its last range tombstone ends it.
type externalTable struct {
	path        string
	r           *sstable.Reader
	lo, hi      []byte
	hiExclusive bool
}

// openExternal opens and checks a table for Ingest: every block, and every
// key — sequence number 0, a point kind, each user key once, in order,
// within the DB's limits; range tombstones at sequence number 0 with keys
// within the limits.
func (db *DB) openExternal(path string) (*externalTable, error) {
	f, err := db.fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dkv: ingest: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("dkv: ingest: %w", err)
	}
	r, err := sstable.Open(f, path, st.Size(), sstable.ReaderOptions{})
	if err != nil {
		_ = f.Close()
		return nil, ingestError(err)
	}
	e := &externalTable{path: path, r: r}
	bad := func(format string, args ...any) (*externalTable, error) {
		_ = r.Close()
		return nil, fmt.Errorf("%w: ingest %s: %s", ErrInvalidArgument, path, fmt.Sprintf(format, args...))
	}
	it := r.NewIter()
	var prev []byte
	var why string // set when a key is refused
	for ok := it.First(); ok && why == ""; ok = it.Next() {
		k := it.Key()
		switch {
		case k.SeqNum() != 0:
			why = fmt.Sprintf("key %s has a sequence number; write tables for Ingest with Writer.Set and Delete", k)
		case !k.Kind().IsPoint():
			why = fmt.Sprintf("key %s has kind %s", k, k.Kind())
		case prev != nil && bytes.Compare(prev, k.UserKey) >= 0:
			why = fmt.Sprintf("key %q follows %q: each user key once, in order", k.UserKey, prev)
		case checkKey(k.UserKey) != nil:
			why = checkKey(k.UserKey).Error()
		case len(it.Value()) > MaxValueSize:
			why = fmt.Sprintf("value of %q is %d bytes, above MaxValueSize", k.UserKey, len(it.Value()))
		}
		if prev == nil {
			e.lo = append([]byte(nil), k.UserKey...)
		}
		prev = append(prev[:0], k.UserKey...)
	}
	if err := it.Close(); err != nil {
		_ = r.Close()
		return nil, ingestError(err)
	}
	if why != "" {
		return bad("%s", why)
	}
	if prev != nil {
		e.hi = append([]byte(nil), prev...)
	}
	spans := r.RangeDels().Spans()
	for _, s := range spans {
		if len(s.Seqs) != 1 || s.Seqs[0] != 0 {
			return bad("range tombstone %s has a sequence number; write it with Writer.DeleteRange", s)
		}
		if checkKey(s.Start) != nil || checkKey(s.End) != nil {
			return bad("range tombstone %s has a key outside the limits", s)
		}
	}
	if len(spans) > 0 {
		first, last := spans[0], spans[len(spans)-1]
		if e.lo == nil || bytes.Compare(first.Start, e.lo) < 0 {
			e.lo = first.Start
		}
		if e.hi == nil || bytes.Compare(last.End, e.hi) > 0 {
			e.hi, e.hiExclusive = last.End, true
		}
	}
	if e.lo == nil {
		return bad("the table is empty")
	}
	return e, nil
}

// ingestError is err, from reading a table given to Ingest, for Ingest's
// caller: a corruption error as it is (it names the table and the offset,
// and says "dkv:" already), any other prefixed with what failed.
func ingestError(err error) error {
	if errors.Is(err, base.ErrCorruption) {
		return err
	}
	return fmt.Errorf("dkv: ingest: %w", err)
}

// rewriteExternal writes e into the database directory as a new table
// whose keys and range tombstones have sequence number seq, durable when
// it returns (the directory entry excepted).
func (db *DB) rewriteExternal(e *externalTable, seq base.SeqNum) (*manifest.FileMetadata, error) {
	m, path, err := db.buildTable(manifest.NumLevels-1, func(w *sstable.Writer) error {
		it := e.r.NewIter()
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			if err := w.Add(base.MakeInternalKey(k.UserKey, seq, k.Kind()), it.Value()); err != nil {
				_ = it.Close()
				return err
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
		return addRangeDels(w, e.r.RangeDels(), &seq)
	})
	switch {
	case err == nil:
		return m, nil
	case errors.Is(err, base.ErrCorruption):
		return nil, err
	}
	return nil, fmt.Errorf("dkv: ingest %s: write table %s: %w", e.path, path, err)
}

// ingestLevel returns the level an ingested table m goes to in v: the
// lowest one such that no table in it or above it overlaps m's keys, and
// no running compaction writes an overlapping range into it. The table's
// keys are newer than everything in v, so nothing above may hold an older
// version of them; L0, which may overlap, takes it when every level
// below is in the way.
func ingestLevel(cmp base.Compare, v *manifest.Version, busy compaction.Busy, m *manifest.FileMetadata) int {
	overlaps := func(f *manifest.FileMetadata) bool {
		return !f.EndsBefore(cmp, m.Smallest.UserKey) && !m.EndsBefore(cmp, f.Smallest.UserKey)
	}
	for _, f := range v.Levels[0] {
		if overlaps(f) {
			return 0
		}
	}
	level := 0
	for l := 1; l < manifest.NumLevels; l++ {
		for _, f := range v.Levels[l] {
			if overlaps(f) {
				return level
			}
		}
		for _, r := range busy.Outputs[l] {
			if cmp(r.Lo, m.Largest.UserKey) <= 0 && cmp(m.Smallest.UserKey, r.Hi) <= 0 {
				return level
			}
		}
		level = l
	}
	return level
}
