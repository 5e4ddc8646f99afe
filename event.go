package dkv

import (
	"time"

	"github.com/distributedkv/dkv/internal/base"
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
	Inputs       []base.FileNum
	Outputs      []base.FileNum
	Move         bool // the inputs moved down without being rewritten
	Reason       string
	BytesRead    uint64
	BytesWritten uint64
	Duration     time.Duration
	Err          error
}

// TableInfo describes a table that was created or deleted.
type TableInfo struct {
	FileNum base.FileNum
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
	FileNum  base.FileNum
	Size     uint64 // bytes of the table
	Entries  int    // versions written
	Duration time.Duration
}

// WALCreateInfo describes a new write-ahead log.
type WALCreateInfo struct {
	Path    string
	FileNum base.FileNum
}

// WALRecoveryInfo describes a write-ahead log replayed by Open.
type WALRecoveryInfo struct {
	Path    string
	FileNum base.FileNum
	Records int   // batches replayed
	Size    int64 // bytes of whole records, file header included
	// TornBytes is how many bytes of an interrupted append followed the
	// last whole record; the file was truncated to Size (a read-only Open
	// leaves it as it is). TornReason says what they looked like.
	TornBytes  int64
	TornReason string
}
