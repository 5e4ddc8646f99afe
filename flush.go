package dkv

import (
	"fmt"
	"time"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/killpoint"
	"github.com/distributedkv/dkv/internal/rangedel"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/memtable"
	"github.com/distributedkv/dkv/sstable"
	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

// Memtable rotation and flush.
//
// When the mutable memtable is full, the write path closes its log (fsync
// and seal), starts a new log and a new memtable, and queues the full one
// (makeRoomForWrite). The flush goroutine writes queued memtables, oldest
// first, as L0 tables: table written and fsynced, then a version edit
// appended to the MANIFEST (adding the table and advancing the log number
// past the memtable's log), then the new version installed for reads and
// the memtable dropped from them at once, and only then the log deleted.
// A crash at any point leaves either the log (replayed at Open) or the
// table named by the MANIFEST; a table the MANIFEST does not name is an
// orphan, deleted at Open.

// flushable is a full memtable waiting for its flush, with the log that
// holds its writes.
type flushable struct {
	mem    *memtable.MemTable
	logNum base.FileNum
	id     uint64
}

// publishReadStateLocked makes reads see db.mu's memtables and version.
// db.mu is held.
func (db *DB) publishReadStateLocked() {
	imm := make([]*memtable.MemTable, len(db.mu.imm))
	for i, f := range db.mu.imm {
		imm[len(imm)-1-i] = f.mem
	}
	rs := &readState{mem: db.mu.mem, imm: imm, version: db.mu.version}
	rs.refs.Store(1) // the DB's
	rs.version.ref()
	rs.mem.Ref()
	for _, m := range imm {
		m.Ref()
	}
	if old := db.readState.Swap(rs); old != nil {
		old.unref()
	}
}

// makeRoomForWrite rotates the memtable when it is full, first waiting
// while too many full memtables wait for their flush (a write stall).
// db.commit is held; it is released while the writer waits, so that
// Flush, Metrics and Close are not stuck behind it, and held again on
// return.
func (db *DB) makeRoomForWrite() error {
	c := &db.commit
	for {
		if c.mem.ApproximateSize() < db.opts.MemTableSize || c.mem.Empty() {
			return nil
		}
		waited, err := db.waitForFlushRoom(false)
		if err != nil {
			return err
		}
		if !waited {
			return db.rotateMemTable()
		}
		// The commit lock was released: the memtable may have rotated
		// meanwhile, or the DB closed.
		if db.closed.Load() {
			return ErrClosed
		}
	}
}

// waitForFlushRoom waits while MemTableStopWritesThreshold memtables wait
// for their flush, counting the stall. db.commit is held on entry and on
// return, but released while waiting (waited reports that it was). A
// writer waits through failed flushes (they are retried); Flush
// (failOnFlushError) returns the failure instead.
func (db *DB) waitForFlushRoom(failOnFlushError bool) (waited bool, err error) {
	db.mu.Lock()
	if len(db.mu.imm) < db.opts.MemTableStopWritesThreshold {
		db.mu.Unlock()
		return false, nil
	}
	db.commit.Unlock()
	defer db.commit.Lock() // after db.mu is released: lock order commit, mu
	defer db.mu.Unlock()
	start := time.Now()
	db.stats.stalls.Add(1)
	db.logger.Warn("dkv: writes stalled: memtables are waiting for their flush",
		"dir", db.dir, "waiting", len(db.mu.imm))
	if db.events.WriteStallBegin != nil {
		db.events.WriteStallBegin(WriteStallInfo{Reason: "MemTableStopWritesThreshold memtables wait for their flush"})
	}
	for len(db.mu.imm) >= db.opts.MemTableStopWritesThreshold && !db.mu.closing && !db.stopped.Load() &&
		!(failOnFlushError && db.mu.flushErr != nil) {
		db.mu.cond.Wait()
	}
	if db.events.WriteStallEnd != nil {
		db.events.WriteStallEnd()
	}
	db.stats.stallNanos.Add(int64(time.Since(start)))
	switch {
	case db.mu.closing:
		return true, ErrClosed
	case db.stopped.Load():
		return true, db.stopErrLocked()
	case failOnFlushError && db.mu.flushErr != nil:
		return true, db.mu.flushErr
	}
	return true, nil
}

// rotateMemTable closes the current log (fsynced and sealed: recovery
// treats a damaged tail of any but the newest log as corruption), starts a
// new log and memtable, and queues the full memtable for flushing.
// db.commit is held.
func (db *DB) rotateMemTable() error {
	c := &db.commit
	if err := db.closeLog(c.log); err != nil {
		c.log = nil
		return db.stopWrites(err)
	}
	old := c.log
	c.log = nil
	killpoint.Hit(killpoint.RotateLogSealed)
	if err := db.newLog(); err != nil {
		return db.stopWrites(err)
	}
	killpoint.Hit(killpoint.RotateLogCreated)
	full := c.mem // the DB's reference goes with it to db.mu.imm
	c.mem = memtable.New(db.comparer, db.opts.MemTableSize)

	db.mu.Lock()
	db.mu.imm = append(db.mu.imm, &flushable{mem: full, logNum: old.num, id: db.mu.nextID})
	db.mu.nextID++
	db.mu.mem = c.mem
	db.mu.logNum = c.log.num
	db.publishReadStateLocked()
	db.mu.cond.Broadcast() // wake the flush loop
	db.mu.Unlock()
	return nil
}

// newLog creates the next log file and makes it the current one. db.commit
// is held (or Open is running).
func (db *DB) newLog() error {
	num := db.versions.newFileNum()
	path := db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeLog, num))
	f, err := db.fs.Create(path)
	if err != nil {
		return fmt.Errorf("dkv: create log: %w", err)
	}
	l := &logFile{num: num, path: path}
	l.w, err = wal.NewWriter(f, path, num, db.logWriterOptions(l))
	if err != nil {
		_ = f.Close()
		return err
	}
	if err := vfs.SyncDir(db.fs, db.dir); err != nil {
		_ = l.w.Close()
		return fmt.Errorf("dkv: %w", err)
	}
	db.commit.log = l
	db.setCurrentLog(l.w)
	if db.events.WALCreated != nil {
		db.events.WALCreated(WALCreateInfo{Path: path, FileNum: num})
	}
	return nil
}

func (db *DB) logWriterOptions(l *logFile) wal.WriterOptions {
	return wal.WriterOptions{OnSync: func(durable int64, err error) {
		db.onLogSync(l, durable, err)
	}}
}

// flushLoop flushes queued memtables, oldest first, until Close. A failed
// flush is retried after a growing pause; a failed MANIFEST write stops
// writes (and this loop) for good.
func (db *DB) flushLoop() {
	defer close(db.flushDone)
	backoff := time.Duration(0)
	for {
		db.mu.Lock()
		for len(db.mu.imm) == 0 && !db.mu.closing {
			db.mu.cond.Wait()
		}
		if db.mu.closing || db.stopped.Load() {
			db.mu.Unlock()
			return
		}
		f := db.mu.imm[0]
		db.mu.Unlock()

		err := db.flush(f)
		if err == nil {
			backoff = 0
			continue
		}
		if db.stopped.Load() {
			return
		}
		db.stats.flushErrors.Add(1)
		backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
		db.logger.Error("dkv: flush failed; retrying", "dir", db.dir, "err", err, "retry in", backoff)
		if db.events.BackgroundError != nil {
			db.events.BackgroundError(err)
		}
		// After the event: a Flush caller that sees the error can count on
		// the listener having heard of it.
		db.mu.Lock()
		db.mu.flushErr = err
		db.mu.cond.Broadcast()
		db.mu.Unlock()
		select {
		case <-time.After(backoff):
		case <-db.closeCh:
			return
		}
	}
}

// flush writes f as an L0 table and installs it.
func (db *DB) flush(f *flushable) error {
	start := time.Now()
	if db.events.FlushBegin != nil {
		db.events.FlushBegin(FlushInfo{Entries: f.mem.Len()})
	}
	meta, err := db.writeTable(f.mem)
	if err != nil {
		return err
	}
	killpoint.Hit(killpoint.FlushTableWritten)
	if db.events.TableCreated != nil {
		db.events.TableCreated(TableInfo{FileNum: meta.FileNum, Size: meta.Size, Level: 0,
			Path: db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeTable, meta.FileNum))})
	}

	// The log number advances past f's log: to the next queued memtable's,
	// or the mutable memtable's.
	db.mu.Lock()
	nextLog := db.mu.logNum
	if len(db.mu.imm) > 1 {
		nextLog = db.mu.imm[1].logNum
	}
	db.mu.Unlock()
	edit := &manifest.VersionEdit{
		LogNum:     nextLog,
		LastSeqNum: meta.LargestSeq,
		NewFiles:   []manifest.NewFile{{Level: 0, Meta: meta}},
	}
	err = db.versions.logAndApply(edit, func(v *manifest.Version) {
		db.mu.Lock()
		db.mu.imm = db.mu.imm[1:]
		db.installVersionLocked(v, nil, nil)
		db.mu.flushErr = nil
		db.stats.flushes.Add(1) // counted before anyone can see the table
		db.stats.flushBytes.Add(int64(meta.Size))
		db.stats.flushNanos.Add(int64(time.Since(start)))
		db.publishReadStateLocked()
		f.mem.Unref() // the DB's: readers of older read states hold their own
		db.mu.cond.Broadcast()
		db.maybeScheduleCompactionLocked()
		db.mu.Unlock()
	})
	if err != nil {
		// What the MANIFEST holds is unknown: fail-stop.
		return db.stopWrites(fmt.Errorf("flush: %w", err))
	}
	killpoint.Hit(killpoint.FlushInstalled)

	db.deleteObsoleteLogs(nextLog)
	info := FlushInfo{FileNum: meta.FileNum, Size: meta.Size, Entries: f.mem.Len(), Duration: time.Since(start)}
	db.logger.Debug("dkv: flushed a memtable", "table", meta.FileNum, "bytes", meta.Size, "entries", info.Entries)
	if db.events.FlushEnd != nil {
		db.events.FlushEnd(info)
	}
	// After the event: a Flush caller that returns can count on the
	// listener having heard of every flush it waited for.
	db.mu.Lock()
	db.mu.flushed = f.id + 1 // Flush returns once the log is gone too
	db.mu.cond.Broadcast()
	db.mu.Unlock()
	return nil
}

// writeTable writes mem as a new L0 table and returns its metadata. The
// table and its directory entry are durable when it returns; on error no
// table file is left.
//
// The table's range tombstones keep, per fragment, only the sequence
// numbers its readers can tell apart (memtable.RangeDelsFor): its readers
// are the snapshots open now and reads that begin after it is installed,
// at or above what is published now. published is loaded before the
// snapshots are listed, so a snapshot the list misses reads at or above
// it. Keeping every sequence number instead makes nested tombstones (a
// queue deleting up to its head after each push) cost their number
// squared: issue 13.
func (db *DB) writeTable(mem *memtable.MemTable) (*manifest.FileMetadata, error) {
	published := base.SeqNum(db.visible.Load())
	snapshots := db.snapshotSeqs()
	m, path, err := db.buildTable(0, func(w *sstable.Writer) error {
		it := mem.NewIter()
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			if err := w.Add(it.Key(), it.Value()); err != nil {
				return err
			}
		}
		return addSpans(w, mem.RangeDelsFor(snapshots, published))
	})
	if err == nil {
		if err = vfs.SyncDir(db.fs, db.dir); err != nil {
			_ = db.fs.Remove(path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dkv: write table %s: %w", path, err)
	}
	return m, nil
}

// buildTable writes a new table with the options of level, its contents
// added by fill, and returns its metadata and path. The table is durable
// when it returns, its directory entry not yet; on error no file is left.
func (db *DB) buildTable(level int, fill func(*sstable.Writer) error) (*manifest.FileMetadata, string, error) {
	num := db.versions.newFileNum()
	path := db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeTable, num))
	file, err := db.fs.Create(path)
	if err != nil {
		return nil, path, fmt.Errorf("create: %w", err)
	}
	w := sstable.NewWriter(file, db.tableWriterOptions(level))
	var props *sstable.Properties
	if err = fill(w); err == nil {
		props, err = w.Finish()
	} else {
		w.Abort()
	}
	if err != nil {
		_ = db.fs.Remove(path)
		return nil, path, err
	}
	return &manifest.FileMetadata{
		FileNum:      num,
		Size:         w.Size(),
		Smallest:     cloneInternalKey(props.Smallest()),
		Largest:      cloneInternalKey(props.Largest()),
		SmallestSeq:  base.SeqNum(props.SmallestSeq),
		LargestSeq:   base.SeqNum(props.LargestSeq),
		HasRangeDels: props.NumRangeDeletions > 0,
	}, path, nil
}

// addRangeDels adds the tombstones of l to w, at sequence number *seq
// instead of their own when seq is set.
func addRangeDels(w *sstable.Writer, l *rangedel.List, seq *base.SeqNum) error {
	for _, t := range rangedel.Tombstones(l.Spans()) {
		if seq != nil {
			t.Seq = *seq
		}
		if err := w.AddRangeDel(t.Start, t.End, t.Seq); err != nil {
			return err
		}
	}
	return nil
}

// addSpans adds the range tombstones of spans to w.
func addSpans(w *sstable.Writer, spans []rangedel.Span) error {
	for _, t := range rangedel.Tombstones(spans) {
		if err := w.AddRangeDel(t.Start, t.End, t.Seq); err != nil {
			return err
		}
	}
	return nil
}

func cloneInternalKey(k base.InternalKey) base.InternalKey {
	return base.InternalKey{UserKey: append([]byte(nil), k.UserKey...), Trailer: k.Trailer}
}

func (db *DB) tableWriterOptions(level int) sstable.WriterOptions {
	l := db.opts.Levels[level]
	return sstable.WriterOptions{
		BlockSize:       l.BlockSize,
		Compression:     l.tableCompression(),
		BloomBitsPerKey: max(db.opts.BloomBitsPerKey, 0),
	}
}

// deleteObsoleteLogs removes the log files numbered below logNum: the
// MANIFEST says tables hold their writes. A failure is only logged: Open
// removes what is left.
func (db *DB) deleteObsoleteLogs(logNum base.FileNum) {
	names, err := db.fs.List(db.dir)
	if err != nil {
		db.logger.Warn("dkv: list directory", "err", err)
		return
	}
	for _, name := range names {
		if typ, num, ok := base.ParseFilename(name); ok && typ == base.FileTypeLog && num < logNum {
			if err := db.fs.Remove(db.fs.PathJoin(db.dir, name)); err != nil {
				db.logger.Warn("dkv: remove obsolete log", "log", name, "err", err)
				continue
			}
			killpoint.Hit(killpoint.FlushLogRemoved)
		}
	}
}

// Flush writes the mutable memtable, and every full memtable waiting, to
// tables, and returns once they are durable and installed. It returns at
// once when there is nothing to flush. If a flush fails (it is retried in
// the background), Flush returns that error. A read-only DB returns
// ErrReadOnly.
func (db *DB) Flush() error {
	if db.closed.Load() {
		return ErrClosed
	}
	if db.opts.ReadOnly {
		return ErrReadOnly
	}
	db.commit.Lock()
	target, err := db.queueFlushLocked()
	db.commit.Unlock()
	if err != nil {
		return err
	}
	return db.waitFlushed(target)
}

// queueFlushLocked queues the mutable memtable for flushing (when it holds
// anything) and returns the flush count that covers every memtable queued
// so far. db.commit is held.
func (db *DB) queueFlushLocked() (target uint64, err error) {
	if db.closed.Load() {
		return 0, ErrClosed
	}
	if err := db.stopErr(); err != nil {
		return 0, err
	}
	db.mu.Lock()
	db.mu.flushErr = nil // report only failures from now on
	db.mu.Unlock()
	for !db.commit.mem.Empty() {
		// Like a writer, Flush may not queue memtables past the threshold.
		var waited bool
		if waited, err = db.waitForFlushRoom(true); err != nil {
			return 0, err
		}
		if !waited {
			if err = db.rotateMemTable(); err != nil {
				return 0, err
			}
			break
		}
		if db.closed.Load() {
			return 0, ErrClosed
		}
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.mu.nextID, nil
}

// waitFlushed waits until the flushes up to target are installed, and
// returns a flush error met meanwhile.
func (db *DB) waitFlushed(target uint64) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	for db.mu.flushed < target {
		if db.mu.closing {
			return ErrClosed
		}
		if err := db.mu.flushErr; err != nil {
			return err
		}
		if db.stopped.Load() {
			db.mu.Unlock()
			err := db.stopErr()
			db.mu.Lock()
			return err
		}
		db.mu.cond.Wait()
	}
	return nil
}
