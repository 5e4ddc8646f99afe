package dkv

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/killpoint"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/memtable"
	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

// recoveredLog is a log replayed by Open.
type recoveredLog struct {
	num    base.FileNum
	path   string
	mem    *memtable.MemTable
	end    int64       // offset after the last whole record
	reader *wal.Reader // read to its end; continues the log (OpenWriter)
}

// replayedLog is a log a read-only DB replayed, and the offset after its
// last whole record.
type replayedLog struct {
	num  base.FileNum
	path string
	end  int64
}

// recover rebuilds the database's state at Open:
//
//  1. The MANIFEST named by CURRENT gives the version (the tables), the
//     oldest log still needed and the last sequence number in the tables.
//     No CURRENT means a new database.
//  2. The logs from that number on are replayed, oldest first, each into
//     its own memtable; their batches must continue the sequence numbers.
//     Only the newest log may end in a torn tail, which is truncated; it is
//     fsynced in any case before it is relied on.
//  3. The newest log is continued when its memtable has room; otherwise a
//     new log starts. Full memtables of older logs queue for flushing.
//  4. A new MANIFEST holding a snapshot of the state replaces the old one.
//  5. Files the state does not need — tables the version does not name,
//     logs below the log number, other MANIFESTs, temporary files — are
//     deleted.
//
// Damage anywhere but in the newest log's torn tail is ErrCorruption, and
// Open fails before changing anything.
//
// A read-only DB stops after step 2, which it runs without truncating or
// syncing anything: the memtables of the logs are what it reads, and no
// file is created, changed or removed (see recoverReadOnly).
func (db *DB) recover() error {
	vs := db.versions
	names, err := db.fs.List(db.dir)
	if err != nil {
		return fmt.Errorf("dkv: list %s: %w", db.dir, err)
	}
	ok, err := vs.load()
	switch {
	case errors.Is(err, base.ErrCorruption):
		return err // it names the file and the offset
	case err != nil:
		return fmt.Errorf("dkv: open %s: %w", db.dir, err)
	}
	if !ok && db.opts.ReadOnly {
		return fmt.Errorf("dkv: open %s read-only: no CURRENT file, so no database here: %w", db.dir, fs.ErrNotExist)
	}
	if !ok {
		if err := db.checkNoData(names); err != nil {
			return err
		}
		vs.state = manifest.State{Version: &manifest.Version{}, ComparerName: db.comparer.Name}
	}

	var logNums []base.FileNum
	tables := map[base.FileNum]bool{}
	for _, name := range names {
		typ, num, ok := base.ParseFilename(name)
		if !ok {
			continue
		}
		vs.markFileNumUsed(num)
		switch {
		case typ == base.FileTypeLog && num >= vs.state.LogNum:
			logNums = append(logNums, num)
		case typ == base.FileTypeTable:
			tables[num] = true
		}
	}
	slices.Sort(logNums)
	// The log the MANIFEST names is created, synced and in the directory
	// before any edit names it, and only logs below it are ever deleted:
	// without it, its acknowledged writes would vanish unnoticed (there is
	// no sequence-number gap to see when it was the newest).
	if ok && vs.state.LogNum != 0 && (len(logNums) == 0 || logNums[0] != vs.state.LogNum) {
		return base.CorruptionErrorf(db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeLog, vs.state.LogNum)), -1,
			"the log the MANIFEST names as the oldest live one is missing")
	}
	for _, f := range vs.state.Version.Files() {
		if !tables[f.FileNum] {
			return base.CorruptionErrorf(db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeTable, f.FileNum)), -1,
				"the MANIFEST names a table that is missing")
		}
	}

	lastSeq := vs.state.LastSeqNum
	logs := make([]recoveredLog, 0, len(logNums))
	// Whatever happens next, a replayed memtable the DB did not take is
	// freed.
	defer func() { db.releaseUnowned(logs) }()
	for i, num := range logNums {
		l, err := db.replayLog(num, &lastSeq, i == len(logNums)-1)
		logs = append(logs, l)
		if err != nil {
			return err
		}
	}

	c := &db.commit
	c.nextSeq = lastSeq + 1
	db.visible.Store(uint64(lastSeq))
	db.pub.applied = lastSeq
	if db.opts.ReadOnly {
		db.recoverReadOnly(logs)
		return nil
	}

	// Older logs' memtables queue for flushing; empty ones need nothing.
	var queued []*flushable
	for _, l := range logs[:max(len(logs)-1, 0)] {
		if !l.mem.Empty() {
			queued = append(queued, &flushable{mem: l.mem, logNum: l.num})
		}
	}
	if err := db.openLogForWrites(logs, &queued); err != nil {
		return err
	}
	oldest := c.log.num
	if len(queued) > 0 {
		oldest = queued[0].logNum
	}
	vs.state.LogNum = oldest
	vs.state.ComparerName = db.comparer.Name
	if err := vs.rotate(); err != nil {
		return err
	}

	db.mu.mem = c.mem
	db.mu.logNum = c.log.num
	db.mu.version = db.newVersion(vs.state.Version)
	for i, f := range queued {
		f.id = uint64(i)
	}
	db.mu.imm = queued
	db.mu.nextID = uint64(len(queued))
	db.publishReadStateLocked()
	db.deleteObsoleteFiles()
	killpoint.Hit(killpoint.OpenRecovered)
	return nil
}

// checkNoData is Open's check of a directory without CURRENT, which it
// would make a new database, deleting the files it does not need: it must
// hold no data. A crash while a new database was being created leaves at
// most a log holding only its header and a MANIFEST (CURRENT is written
// last); a table, or a log with records, means CURRENT was lost from a
// database with data, and Open refuses rather than destroy it.
func (db *DB) checkNoData(names []string) error {
	current := db.fs.PathJoin(db.dir, "CURRENT")
	for _, name := range names {
		typ, _, ok := base.ParseFilename(name)
		if !ok {
			continue
		}
		switch typ {
		case base.FileTypeTable:
			return base.CorruptionErrorf(current, -1,
				"CURRENT is missing but the directory holds tables (%s): refusing to treat it as a new database", name)
		case base.FileTypeLog:
			has, err := db.logHasRecords(name)
			if err != nil {
				return err
			}
			if has {
				return base.CorruptionErrorf(current, -1,
					"CURRENT is missing but the directory holds a log with records (%s): refusing to treat it as a new database", name)
			}
		}
	}
	return nil
}

// logHasRecords reports whether the log file name holds a record. A log
// too short for its header holds none; one that cannot be read is an error.
func (db *DB) logHasRecords(name string) (bool, error) {
	path := db.fs.PathJoin(db.dir, name)
	f, err := db.fs.Open(path)
	if err != nil {
		return false, fmt.Errorf("dkv: open log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("dkv: stat log: %w", err)
	}
	if st.Size() < wal.FileHeaderSize {
		return false, nil
	}
	_, num, _ := base.ParseFilename(name)
	_, err = wal.NewReader(f, st.Size(), path, num).Next()
	switch {
	case errors.Is(err, io.EOF):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// releaseUnowned drops the reference of each replayed memtable that the DB
// did not take as its mutable or a queued one.
func (db *DB) releaseUnowned(logs []recoveredLog) {
	db.mu.Lock()
	owned := map[*memtable.MemTable]bool{db.commit.mem: true}
	for _, f := range db.mu.imm {
		owned[f.mem] = true
	}
	db.mu.Unlock()
	for _, l := range logs {
		if l.mem != nil && !owned[l.mem] {
			l.mem.Unref()
		}
	}
}

// recoverReadOnly installs the replayed logs' memtables for reads: the
// newest as the mutable memtable (no write ever reaches it), the others,
// oldest first, as full ones that are never flushed.
func (db *DB) recoverReadOnly(logs []recoveredLog) {
	mem := memtable.New(db.comparer, db.opts.MemTableSize)
	var imm []*flushable
	for i, l := range logs {
		db.replayed = append(db.replayed, replayedLog{num: l.num, path: l.path, end: l.end})
		switch {
		case i == len(logs)-1:
			mem = l.mem
			db.mu.logNum = l.num
		case !l.mem.Empty():
			imm = append(imm, &flushable{mem: l.mem, logNum: l.num, id: uint64(len(imm))})
		}
	}
	db.commit.mem = mem
	db.mu.mem = mem
	db.mu.imm = imm
	db.mu.nextID = uint64(len(imm))
	db.mu.version = db.newVersion(db.versions.state.Version)
	db.publishReadStateLocked()
}

// openLogForWrites continues the newest log when it has a header and its
// memtable has room, and otherwise starts a new log with an empty memtable
// (queueing the newest log's memtable, if it holds anything).
func (db *DB) openLogForWrites(logs []recoveredLog, queued *[]*flushable) error {
	c := &db.commit
	if n := len(logs); n > 0 {
		l := logs[n-1]
		if l.end >= int64(wal.FileHeaderSize) && l.mem.ApproximateSize() < db.opts.MemTableSize {
			f, err := db.fs.OpenReadWrite(l.path)
			if err != nil {
				return fmt.Errorf("dkv: reopen log: %w", err)
			}
			lf := &logFile{num: l.num, path: l.path, durable: l.end}
			if lf.w, err = wal.OpenWriter(f, l.path, l.reader, db.logWriterOptions(lf)); err != nil {
				_ = f.Close()
				return err
			}
			c.log, c.mem = lf, l.mem
			db.setCurrentLog(lf.w)
			return nil
		}
		if !l.mem.Empty() {
			*queued = append(*queued, &flushable{mem: l.mem, logNum: l.num})
		}
	}
	c.mem = memtable.New(db.comparer, db.opts.MemTableSize)
	return db.newLog()
}

// replayLog reads log num into a new memtable. lastSeq is the last sequence
// number replayed so far (or held by the tables); the log's batches must
// continue it. Only the newest log may have a torn tail, which is
// truncated; the newest log is fsynced either way — except in a read-only
// DB, which reads up to the torn tail and leaves the file as it is.
func (db *DB) replayLog(num base.FileNum, lastSeq *base.SeqNum, newest bool) (recoveredLog, error) {
	path := db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeLog, num))
	l := recoveredLog{num: num, path: path, mem: memtable.New(db.comparer, db.opts.MemTableSize)}
	f, err := db.fs.Open(path)
	if err != nil {
		return l, fmt.Errorf("dkv: open log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return l, fmt.Errorf("dkv: stat log: %w", err)
	}
	r := wal.NewReader(f, st.Size(), path, num)
	records := 0
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return l, err
		}
		seq, count, err := checkBatch(rec)
		if err != nil {
			return l, base.CorruptionErrorf(path, r.Offset(), "bad batch: %v", err)
		}
		if seq != *lastSeq+1 {
			return l, base.CorruptionErrorf(path, r.Offset(),
				"batch starts at sequence number %d, expected %d (is a log missing?)", seq, *lastSeq+1)
		}
		applyBatch(l.mem, rec)
		*lastSeq = seq + base.SeqNum(count) - 1
		records++
	}
	tail := r.Tail()
	l.end, l.reader = tail.End, r
	info := WALRecoveryInfo{Path: path, FileNum: num, Records: records, Size: tail.End}
	if tail.Torn && !newest {
		return l, base.CorruptionErrorf(path, tail.End,
			"damaged tail in a log that is not the newest: %s", tail.Reason)
	}
	if newest && !db.opts.ReadOnly {
		// Truncate a torn tail, and fsync the log even when it is whole:
		// after a process crash its bytes may still be only in the OS's
		// cache, and the writes continued after them would otherwise
		// vouch for bytes that a power failure can still take away.
		if err := truncateLog(db.fs, path, tail.End); err != nil {
			return l, err
		}
	}
	if tail.Torn {
		info.TornBytes, info.TornReason = st.Size()-tail.End, tail.Reason
		what := "dkv: truncated the torn tail of a log"
		if db.opts.ReadOnly {
			what = "dkv: ignored the torn tail of a log (read-only: left in place)"
		}
		db.logger.Warn(what, "log", path, "offset", tail.End, "bytes", info.TornBytes, "reason", tail.Reason)
	}
	if db.events.WALRecovered != nil {
		db.events.WALRecovered(info)
	}
	return l, nil
}

// truncateLog cuts a log to size and syncs it, so that appends after
// recovery follow the last whole record.
func truncateLog(fs vfs.FS, path string, size int64) error {
	f, err := fs.OpenReadWrite(path)
	if err != nil {
		return fmt.Errorf("dkv: open log to truncate: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		_ = f.Close()
		return fmt.Errorf("dkv: truncate %s to %d: %w", path, size, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("dkv: sync truncated %s: %w", path, err)
	}
	return f.Close()
}

// deleteObsoleteFiles removes the files of the directory that the state no
// longer needs: tables the version does not name (a flush that crashed
// before its MANIFEST edit), logs below the log number, MANIFESTs other than
// the current one, and temporary files. Files dkv does not own are left
// alone. Failures are only logged: the next Open tries again.
func (db *DB) deleteObsoleteFiles() {
	names, err := db.fs.List(db.dir)
	if err != nil {
		db.logger.Warn("dkv: list directory", "err", err)
		return
	}
	live := map[base.FileNum]bool{}
	for _, f := range db.versions.state.Version.Files() {
		live[f.FileNum] = true
	}
	current := db.versions.manifest.FileNum()
	for _, name := range names {
		typ, num, ok := base.ParseFilename(name)
		if !ok {
			continue
		}
		obsolete := false
		switch typ {
		case base.FileTypeTable:
			obsolete = !live[num]
		case base.FileTypeLog:
			obsolete = num < db.versions.state.LogNum
		case base.FileTypeManifest:
			obsolete = num != current
		case base.FileTypeTemp:
			obsolete = true
		}
		if !obsolete {
			continue
		}
		if err := db.fs.Remove(db.fs.PathJoin(db.dir, name)); err != nil {
			db.logger.Warn("dkv: remove obsolete file", "file", name, "err", err)
		} else {
			db.logger.Debug("dkv: removed obsolete file", "file", name)
		}
	}
}
