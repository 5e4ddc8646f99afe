package dkv

import (
	"fmt"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/distributedkv/dkv/manifest"
)

// dbStats are the DB's own counters.
type dbStats struct {
	flushes     atomic.Int64
	flushBytes  atomic.Int64
	flushErrors atomic.Int64
	stalls      atomic.Int64
	stallNanos  atomic.Int64
}

// LevelMetrics describe one level of the LSM.
type LevelMetrics struct {
	Files int
	Size  uint64 // bytes of its tables
}

// Metrics is a snapshot of the DB's counters and shape.
type Metrics struct {
	// WAL counts the write-ahead log's work since Open.
	WAL struct {
		Records int64 // batches appended
		Bytes   int64 // bytes written to log files, framing included
		Writes  int64 // write calls to log files
		Syncs   int64 // fsyncs of log files; below Records when writers share one
	}
	// MemTable describes the memtables.
	MemTable struct {
		Size           int64 // bytes accounted by the mutable memtable
		Entries        int   // versions in the mutable memtable
		Immutable      int   // full memtables waiting for their flush
		ImmutableSize  int64 // bytes accounted by them
		ImmutableCount int   // versions in them
	}
	// Flush counts flushes since Open.
	Flush struct {
		Count  int64
		Bytes  int64 // bytes of the tables written
		Errors int64 // failed attempts (retried)
	}
	// WriteStall counts the times writers waited for a flush, and for how
	// long in all.
	WriteStall struct {
		Count    int64
		Duration time.Duration
	}
	// Levels describe the tables of L0 to L6.
	Levels [manifest.NumLevels]LevelMetrics
	// BlockCache counts the shared block cache's work.
	BlockCache struct {
		Size, Capacity int64
		Blocks         int64
		Hits, Misses   int64
	}
	// TableCache counts the open tables.
	TableCache struct {
		Open         int
		Hits, Misses int64
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
	m.MemTable.Size = rs.mem.ApproximateSize()
	m.MemTable.Entries = rs.mem.Len()
	m.MemTable.Immutable = len(rs.imm)
	for _, mem := range rs.imm {
		m.MemTable.ImmutableSize += mem.ApproximateSize()
		m.MemTable.ImmutableCount += mem.Len()
	}
	for level := range m.Levels {
		m.Levels[level] = LevelMetrics{Files: len(rs.version.Levels[level]), Size: rs.version.LevelSize(level)}
	}
	m.Flush.Count = db.stats.flushes.Load()
	m.Flush.Bytes = db.stats.flushBytes.Load()
	m.Flush.Errors = db.stats.flushErrors.Load()
	m.WriteStall.Count = db.stats.stalls.Load()
	m.WriteStall.Duration = time.Duration(db.stats.stallNanos.Load())
	if c := db.blockCache; c != nil {
		cm := c.Metrics()
		m.BlockCache.Size, m.BlockCache.Capacity, m.BlockCache.Blocks = cm.Size, cm.Capacity, cm.Count
		m.BlockCache.Hits, m.BlockCache.Misses = cm.Hits, cm.Misses
	}
	m.TableCache.Open, m.TableCache.Hits, m.TableCache.Misses = db.tableCache.stats()
	m.SeqNum = db.visible.Load()
	return m
}

// String formats the metrics: the LSM's shape as a table of levels, then
// the counters.
func (m *Metrics) String() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "level\tfiles\tsize\t\n")
	for level, l := range m.Levels {
		fmt.Fprintf(tw, "L%d\t%d\t%s\t\n", level, l.Files, humanBytes(l.Size))
	}
	tw.Flush()
	fmt.Fprintf(&b, "memtable  size %s, %d entries; %d immutable (%s, %d entries)\n",
		humanBytes(uint64(m.MemTable.Size)), m.MemTable.Entries, m.MemTable.Immutable,
		humanBytes(uint64(m.MemTable.ImmutableSize)), m.MemTable.ImmutableCount)
	fmt.Fprintf(&b, "wal       %d records, %s, %d writes, %d syncs\n",
		m.WAL.Records, humanBytes(uint64(m.WAL.Bytes)), m.WAL.Writes, m.WAL.Syncs)
	fmt.Fprintf(&b, "flush     %d flushes, %s written, %d errors\n", m.Flush.Count, humanBytes(uint64(m.Flush.Bytes)), m.Flush.Errors)
	fmt.Fprintf(&b, "stall     %d stalls, %s\n", m.WriteStall.Count, m.WriteStall.Duration)
	fmt.Fprintf(&b, "cache     blocks %s of %s, %d hits, %d misses; tables %d open, %d hits, %d misses\n",
		humanBytes(uint64(m.BlockCache.Size)), humanBytes(uint64(m.BlockCache.Capacity)), m.BlockCache.Hits, m.BlockCache.Misses,
		m.TableCache.Open, m.TableCache.Hits, m.TableCache.Misses)
	fmt.Fprintf(&b, "seqnum    %d\n", m.SeqNum)
	return b.String()
}

// humanBytes formats n with a binary unit: 512 B, 1.5 KiB, 64.0 MiB.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for x := n / unit; x >= unit; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
