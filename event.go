package dkv

import (
	"time"

	"github.com/distributedkv/dkv/internal/base"
)

// The names the events, traces and metrics use for the engine's numbers,
// so that code outside the module can name them (they are the engine's
// own types, from an internal package).
type (
	// FileNum numbers the files of a database directory: logs, tables
	// and MANIFESTs share one sequence (000042.sst is table 42). Its
	// String is the six-digit form of the file names.
	FileNum = base.FileNum

	// SeqNum is a sequence number: every operation written gets the next
	// one (a batch of n takes n in a row), and a read at s sees exactly
	// the operations numbered s or lower.
	SeqNum = base.SeqNum

	// Kind says what a version of a key is: KindSet, KindDelete or
	// KindRangeDelete. Its String is SET, DEL or RANGEDEL.
	Kind = base.Kind
)

// The kinds of versions a trace may report.
const (
	KindDelete      = base.KindDelete      // a point deletion
	KindSet         = base.KindSet         // a value
	KindRangeDelete = base.KindRangeDelete // a range deletion
)

// EventListener is told about the DB's internal events. Every field is
// optional. Callbacks run on the goroutine that caused the event, sometimes
// with internal locks held: they must be quick and must not call the DB.
type EventListener struct {
	// WALCreated: a new write-ahead log file was created and its header
	// synced.
	WALCreated func(WALCreateInfo)
	// WALRecovered: Open replayed a write-ahead log.
	WALRecovered func(WALRecoveryInfo)
	// WritesStopped: a log or MANIFEST write or fsync failed; the DB
	// refuses writes from now on (ErrStopped). Called once.
	WritesStopped func(error)
	// FlushBegin: a memtable starts being written as an L0 table.
	FlushBegin func(FlushInfo)
	// FlushEnd: a memtable was written as an L0 table and installed. A
	// Flush call returns after the FlushEnd of every flush it waited for.
	FlushEnd func(FlushInfo)
	// CompactionBegin: a compaction starts.
	CompactionBegin func(CompactionInfo)
	// CompactionEnd: a compaction was installed, or failed (Err set).
	CompactionEnd func(CompactionInfo)
	// TableCreated: a table was written and made durable (by a flush or a
	// compaction).
	TableCreated func(TableInfo)
	// TableDeleted: an obsolete table was removed.
	TableDeleted func(TableInfo)
	// WriteStallBegin: writers wait (too many memtables or L0 tables).
	WriteStallBegin func(WriteStallInfo)
	// WriteStallEnd: writers go on.
	WriteStallEnd func()
	// BackgroundError: background work (a flush or a compaction) failed
	// and will be retried.
	BackgroundError func(error)
}

// CompactionInfo describes a compaction.
type CompactionInfo struct {
	Kind         string // "L0", "size", "manual" or "read" (compaction.Kind)
	StartLevel   int
	OutputLevel  int
	Inputs       []FileNum
	Outputs      []FileNum
	Move         bool // the inputs moved down without being rewritten
	Reason       string
	BytesRead    uint64
	BytesWritten uint64
	Duration     time.Duration
	Err          error
}

// TableInfo describes a table that was created or deleted.
type TableInfo struct {
	FileNum FileNum
	Path    string
	Size    uint64
	Level   int
}

// WriteStallInfo says why writers wait.
type WriteStallInfo struct {
	Reason string
}

// FlushInfo describes a finished flush.
type FlushInfo struct {
	FileNum  FileNum
	Size     uint64 // bytes of the table
	Entries  int    // versions written
	Duration time.Duration
}

// WALCreateInfo describes a new write-ahead log.
type WALCreateInfo struct {
	Path    string
	FileNum FileNum
}

// WALRecoveryInfo describes a write-ahead log replayed by Open.
type WALRecoveryInfo struct {
	Path    string
	FileNum FileNum
	Records int   // batches replayed
	Size    int64 // bytes of whole records, file header included
	// TornBytes is how many bytes of an interrupted append followed the
	// last whole record; the file was truncated to Size (a read-only Open
	// leaves it as it is). TornReason says what they looked like.
	TornBytes  int64
	TornReason string
}
