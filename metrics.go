package dkv

import (
	"fmt"
	"strings"
)

// Metrics is a snapshot of the DB's counters and shape.
type Metrics struct {
	// WAL counts the write-ahead log's work since Open.
	WAL struct {
		Files   int   // live log files: the current one and one per full memtable
		Records int64 // batches appended
		Bytes   int64 // bytes written to log files, framing included
		Writes  int64 // write calls to log files
		Syncs   int64 // fsyncs of log files; below Records when writers share one
	}
	// MemTable describes the memtables.
	MemTable struct {
		Size           int64 // bytes accounted by the mutable memtable
		Entries        int   // versions in the mutable memtable
		Immutable      int   // full memtables waiting (for a flush, later)
		ImmutableSize  int64 // bytes accounted by them
		ImmutableCount int   // versions in them
	}
	// SeqNum is the sequence number of the newest published write.
	SeqNum uint64
}

// Metrics returns a snapshot of the DB's metrics.
func (db *DB) Metrics() *Metrics {
	m := &Metrics{}
	db.commit.Lock()
	s := db.walStats
	if l := db.commit.log; l != nil && !db.closed.Load() {
		ls := l.w.Stats()
		s.Records += ls.Records
		s.Bytes += ls.Bytes
		s.Writes += ls.Writes
		s.Syncs += ls.Syncs
	}
	db.commit.Unlock()
	m.WAL.Records, m.WAL.Bytes, m.WAL.Writes, m.WAL.Syncs = s.Records, s.Bytes, s.Writes, s.Syncs

	rs := db.readState.Load()
	m.WAL.Files = 1 + len(rs.imm)
	m.MemTable.Size = rs.mem.ApproximateSize()
	m.MemTable.Entries = rs.mem.Len()
	m.MemTable.Immutable = len(rs.imm)
	for _, mem := range rs.imm {
		m.MemTable.ImmutableSize += mem.ApproximateSize()
		m.MemTable.ImmutableCount += mem.Len()
	}
	m.SeqNum = db.visible.Load()
	return m
}

// String formats the metrics as a small table.
func (m *Metrics) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seqnum   %d\n", m.SeqNum)
	fmt.Fprintf(&b, "wal      files %d  records %d  bytes %d  writes %d  syncs %d\n",
		m.WAL.Files, m.WAL.Records, m.WAL.Bytes, m.WAL.Writes, m.WAL.Syncs)
	fmt.Fprintf(&b, "memtable size %d  entries %d  immutable %d (size %d, entries %d)\n",
		m.MemTable.Size, m.MemTable.Entries, m.MemTable.Immutable, m.MemTable.ImmutableSize, m.MemTable.ImmutableCount)
	return b.String()
}
