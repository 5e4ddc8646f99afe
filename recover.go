package dkv

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/distributedkv/dkv/internal/base"
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

// recover rebuilds the memtables from the logs in the directory, oldest
// first, then opens a log for new writes: the newest log itself when its
// memtable has room, a new one otherwise.
//
// Every log must hold whole records with consecutive sequence numbers. The
// newest log alone may end in a torn tail (an append cut by a crash), which
// is truncated; damage anywhere else is ErrCorruption and Open fails without
// changing anything.
func (db *DB) recover() error {
	names, err := db.fs.List(db.dir)
	if err != nil {
		return fmt.Errorf("dkv: list %s: %w", db.dir, err)
	}
	var logNums []base.FileNum
	var maxNum base.FileNum
	for _, name := range names {
		typ, num, ok := base.ParseFilename(name)
		if !ok {
			continue
		}
		maxNum = max(maxNum, num)
		if typ == base.FileTypeLog {
			logNums = append(logNums, num)
		}
	}
	slices.Sort(logNums)

	var lastSeq base.SeqNum
	logs := make([]recoveredLog, 0, len(logNums))
	for i, num := range logNums {
		l, err := db.replayLog(num, &lastSeq, i == len(logNums)-1)
		if err != nil {
			return err
		}
		logs = append(logs, l)
	}

	c := &db.commit
	c.nextSeq = lastSeq + 1
	c.nextFileNum = maxNum + 1
	db.visible.Store(uint64(lastSeq))
	db.pub.applied = lastSeq

	var imm []*memtable.MemTable // newest first
	for i := range logs[:max(len(logs)-1, 0)] {
		if !logs[i].mem.Empty() {
			imm = append([]*memtable.MemTable{logs[i].mem}, imm...)
			continue
		}
		// An empty older log holds nothing to replay.
		if err := db.fs.Remove(logs[i].path); err != nil {
			return fmt.Errorf("dkv: remove empty log: %w", err)
		}
	}
	if err := db.openLogForWrites(logs, &imm); err != nil {
		return err
	}
	db.readState.Store(&readState{mem: c.mem, imm: imm})
	return nil
}

// openLogForWrites continues the newest log when it has a header and its
// memtable has room, and otherwise starts a new log with an empty memtable.
func (db *DB) openLogForWrites(logs []recoveredLog, imm *[]*memtable.MemTable) error {
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
			if err := vfs.SyncDir(db.fs, db.dir); err != nil { // make removals durable
				_ = lf.w.Close()
				c.log = nil
				return fmt.Errorf("dkv: %w", err)
			}
			return nil
		}
		if !l.mem.Empty() {
			*imm = append([]*memtable.MemTable{l.mem}, *imm...)
		} else if err := db.fs.Remove(l.path); err != nil {
			return fmt.Errorf("dkv: remove empty log: %w", err)
		}
	}
	c.mem = memtable.New(db.comparer)
	return db.newLog() // syncs the directory, removals included
}

// replayLog reads log num into a new memtable. lastSeq is the last sequence
// number replayed so far; the log's batches must continue it. Only the
// newest log (newest) may have a torn tail, which is truncated and synced.
func (db *DB) replayLog(num base.FileNum, lastSeq *base.SeqNum, newest bool) (recoveredLog, error) {
	path := db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeLog, num))
	l := recoveredLog{num: num, path: path, mem: memtable.New(db.comparer)}
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
	if newest {
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
		db.logger.Warn("dkv: truncated the torn tail of a log",
			"log", path, "offset", tail.End, "bytes", info.TornBytes, "reason", tail.Reason)
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
