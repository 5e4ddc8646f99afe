package dkv

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/distributedkv/dkv/compaction"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/sstable"
)

// dbStats are the DB's own counters.
type dbStats struct {
	userBytes   atomic.Int64 // keys and values written by the user
	flushes     atomic.Int64
	flushBytes  atomic.Int64
	flushNanos  atomic.Int64
	flushErrors atomic.Int64
	stalls      atomic.Int64 // memtable stalls
	stallNanos  atomic.Int64
	l0Stops     atomic.Int64 // writes that waited for L0 to shrink
	l0StopNanos atomic.Int64
	l0Slowdowns atomic.Int64 // writes delayed by a millisecond
	filter      sstable.ReaderStats

	mu          sync.Mutex
	compactions compactionStats
}

// LevelMetrics describe one level of the LSM.
type LevelMetrics struct {
	Files int
	Size  uint64 // bytes of its tables
	// Score is the compaction score: for L0 its table count over
	// L0CompactionThreshold, for deeper levels their size over the target;
	// 1 or more means the level needs compaction.
	Score float64
	// Target is the level's target size (0 for L0 and the bottom level).
	Target uint64
}

// Metrics is a snapshot of the DB's counters and shape.
type Metrics struct {
	// Levels describe the tables of L0 to L6.
	Levels [manifest.NumLevels]LevelMetrics
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
		Count    int64
		Bytes    int64 // bytes of the tables written
		Duration time.Duration
		Errors   int64 // failed attempts (retried)
	}
	// Compaction counts compactions since Open.
	Compaction struct {
		Count        int64
		Moves        int64 // tables moved down without a rewrite
		BytesRead    int64
		BytesWritten int64
		Duration     time.Duration
		Errors       int64 // failed attempts (retried)
		Running      int
	}
	// UserBytes is the bytes of keys and values written since Open.
	UserBytes int64
	// WriteAmp is the bytes written to disk — the log, flushes and
	// compactions — per byte the user wrote, since Open.
	WriteAmp float64
	// ReadAmp is the number of places a point read may look: memtables,
	// L0 tables, and non-empty deeper levels.
	ReadAmp int
	// WriteStall counts writers' waits: for a memtable flush (Count,
	// Duration), for L0 to shrink (L0Stops, L0StopDuration), and writes
	// delayed by a millisecond as L0 grew (L0Slowdowns).
	WriteStall struct {
		Count          int64
		Duration       time.Duration
		L0Stops        int64
		L0StopDuration time.Duration
		L0Slowdowns    int64
	}
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
	// Filter counts the bloom filters' answers: Negatives are table reads
	// they saved.
	Filter struct {
		Checks, Negatives int64
	}
	// Snapshots and Iterators open now.
	Snapshots, Iterators int
	// SeqNum is the sequence number of the newest published write.
	SeqNum uint64
}

// Metrics returns a snapshot of the DB's metrics.
func (db *DB) Metrics() *Metrics {
	m := &Metrics{}
	db.wal.Lock()
	s := db.wal.closed
	if w := db.wal.current; w != nil {
		ls := w.Stats()
		s.Records += ls.Records
		s.Bytes += ls.Bytes
		s.Writes += ls.Writes
		s.Syncs += ls.Syncs
	}
	db.wal.Unlock()
	m.WAL.Records, m.WAL.Bytes, m.WAL.Writes, m.WAL.Syncs = s.Records, s.Bytes, s.Writes, s.Syncs

	var v *manifest.Version
	if rs := db.loadReadState(); rs != nil {
		defer rs.unref()
		m.MemTable.Size = rs.mem.ApproximateSize()
		m.MemTable.Entries = rs.mem.Len()
		m.MemTable.Immutable = len(rs.imm)
		for _, mem := range rs.imm {
			m.MemTable.ImmutableSize += mem.ApproximateSize()
			m.MemTable.ImmutableCount += mem.Len()
		}
		v = rs.version.Version
	} else { // closed: the memtables are gone, the tables are as Close left them
		db.mu.Lock()
		v = db.mu.version.Version
		db.mu.Unlock()
	}
	copts := db.opts.compactionOptions()
	scores := compaction.Scores(v, copts, compaction.Busy{})
	m.ReadAmp = 1 + m.MemTable.Immutable
	for level := range m.Levels {
		l := &m.Levels[level]
		l.Files, l.Size, l.Score = len(v.Levels[level]), v.LevelSize(level), scores[level]
		if level > 0 && level < manifest.NumLevels-1 {
			l.Target = uint64(copts.LevelTarget(level))
		}
		switch {
		case level == 0:
			m.ReadAmp += l.Files
		case l.Files > 0:
			m.ReadAmp++
		}
	}

	m.Flush.Count = db.stats.flushes.Load()
	m.Flush.Bytes = db.stats.flushBytes.Load()
	m.Flush.Errors = db.stats.flushErrors.Load()
	m.Flush.Duration = time.Duration(db.stats.flushNanos.Load())
	db.stats.mu.Lock()
	cs := db.stats.compactions
	db.stats.mu.Unlock()
	m.Compaction.Count, m.Compaction.Moves = cs.count, cs.moves
	m.Compaction.BytesRead, m.Compaction.BytesWritten = cs.bytesRead, cs.bytesWritten
	m.Compaction.Duration, m.Compaction.Errors = time.Duration(cs.nanos), cs.errors
	m.UserBytes = db.stats.userBytes.Load()
	if m.UserBytes > 0 {
		m.WriteAmp = float64(m.WAL.Bytes+m.Flush.Bytes+m.Compaction.BytesWritten) / float64(m.UserBytes)
	}
	m.WriteStall.Count = db.stats.stalls.Load()
	m.WriteStall.Duration = time.Duration(db.stats.stallNanos.Load())
	m.WriteStall.L0Stops = db.stats.l0Stops.Load()
	m.WriteStall.L0StopDuration = time.Duration(db.stats.l0StopNanos.Load())
	m.WriteStall.L0Slowdowns = db.stats.l0Slowdowns.Load()
	if c := db.blockCache; c != nil {
		cm := c.Metrics()
		m.BlockCache.Size, m.BlockCache.Capacity, m.BlockCache.Blocks = cm.Size, cm.Capacity, cm.Count
		m.BlockCache.Hits, m.BlockCache.Misses = cm.Hits, cm.Misses
	}
	m.TableCache.Open, m.TableCache.Hits, m.TableCache.Misses = db.tableCache.stats()
	m.Filter.Checks = db.stats.filter.FilterChecks.Load()
	m.Filter.Negatives = db.stats.filter.FilterNegatives.Load()
	db.mu.Lock()
	if db.mu.snapshots.l != nil {
		m.Snapshots = db.mu.snapshots.l.Len()
	}
	m.Iterators = int(db.iterators.Load())
	m.Compaction.Running = db.mu.compactions.running
	db.mu.Unlock()
	m.SeqNum = db.visible.Load()
	return m
}

// String formats the metrics: the LSM's shape as a table of levels, then
// the counters.
func (m *Metrics) String() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "level\tfiles\tsize\ttarget\tscore\t\n")
	var files int
	var size uint64
	for level, l := range m.Levels {
		target := "-"
		if l.Target > 0 {
			target = humanBytes(l.Target)
		}
		fmt.Fprintf(tw, "L%d\t%d\t%s\t%s\t%.2f\t\n", level, l.Files, humanBytes(l.Size), target, l.Score)
		files += l.Files
		size += l.Size
	}
	fmt.Fprintf(tw, "total\t%d\t%s\t\t\t\n", files, humanBytes(size))
	tw.Flush()
	fmt.Fprintf(&b, "memtable    %s, %d entries; %d immutable (%s, %d entries)\n",
		humanBytes(uint64(m.MemTable.Size)), m.MemTable.Entries, m.MemTable.Immutable,
		humanBytes(uint64(m.MemTable.ImmutableSize)), m.MemTable.ImmutableCount)
	fmt.Fprintf(&b, "wal         %d records, %s, %d writes, %d syncs\n",
		m.WAL.Records, humanBytes(uint64(m.WAL.Bytes)), m.WAL.Writes, m.WAL.Syncs)
	fmt.Fprintf(&b, "flush       %d, %s written, %s, %d errors\n", m.Flush.Count, humanBytes(uint64(m.Flush.Bytes)),
		m.Flush.Duration.Round(time.Millisecond), m.Flush.Errors)
	fmt.Fprintf(&b, "compaction  %d (%d moves), %s read, %s written, %s, %d errors, %d running\n",
		m.Compaction.Count, m.Compaction.Moves, humanBytes(uint64(m.Compaction.BytesRead)),
		humanBytes(uint64(m.Compaction.BytesWritten)), m.Compaction.Duration.Round(time.Millisecond),
		m.Compaction.Errors, m.Compaction.Running)
	fmt.Fprintf(&b, "amp         write %.2f (%s by the user), read %d\n", m.WriteAmp, humanBytes(uint64(m.UserBytes)), m.ReadAmp)
	fmt.Fprintf(&b, "stall       memtable %d (%s), L0 stop %d (%s), L0 slowdown %d\n",
		m.WriteStall.Count, m.WriteStall.Duration.Round(time.Millisecond), m.WriteStall.L0Stops,
		m.WriteStall.L0StopDuration.Round(time.Millisecond), m.WriteStall.L0Slowdowns)
	fmt.Fprintf(&b, "cache       blocks %s of %s, %d hits, %d misses; tables %d open, %d hits, %d misses\n",
		humanBytes(uint64(m.BlockCache.Size)), humanBytes(uint64(m.BlockCache.Capacity)), m.BlockCache.Hits, m.BlockCache.Misses,
		m.TableCache.Open, m.TableCache.Hits, m.TableCache.Misses)
	fmt.Fprintf(&b, "filter      %d checks, %d negatives\n", m.Filter.Checks, m.Filter.Negatives)
	fmt.Fprintf(&b, "open        %d snapshots, %d iterators\n", m.Snapshots, m.Iterators)
	fmt.Fprintf(&b, "seqnum      %d\n", m.SeqNum)
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
