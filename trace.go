package dkv

import (
	"fmt"
	"strings"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/sstable"
)

// Tracing shows one read or one write travelling through the engine: pass
// a Trace function in ReadOptions (GetWith) or WriteOptions (Write) and it
// receives each step as it happens, as one of the *Trace types below. Each
// has a String method that prints it as one line, which is what
// `dkv get --explain` and `dkv put --explain` show. Without a Trace
// function the read and write paths only test a nil function (the log
// keeps a short history of its flushes either way, for WriteTrace).
//
// A Trace function runs on the caller's goroutine, inside the operation:
// it must not call back into the DB.

// TraceEvent is one step of a traced operation: *MemTableTrace,
// *TableTrace, *LevelTrace or *ReadResultTrace for a read, *WriteTrace for
// a write.
type TraceEvent interface {
	fmt.Stringer
	traceEvent()
}

// ReadOptions are per-call options of a read (GetWith).
type ReadOptions struct {
	// Trace, when set, receives each step of the read (see TraceEvent).
	Trace func(TraceEvent)
}

// MemTableTrace is a read's visit to a memtable.
type MemTableTrace struct {
	// Immutable is 0 for the mutable memtable and i for the i-th newest
	// full memtable waiting for its flush.
	Immutable int
	// Filter is what the memtable's key filter said: "absent" (the tree
	// was not searched), "may contain", or "no filter".
	Filter string
	// Found: the memtable holds a version of the key visible to the read,
	// with sequence number Seq and kind Kind.
	Found bool
	Seq   SeqNum
	Kind  Kind
	// RangeDelSeq is the newest visible range tombstone of the memtable
	// covering the key (0: none).
	RangeDelSeq SeqNum
}

// TableTrace is a read's visit to one table whose key range holds the key.
type TableTrace struct {
	Level             int
	File              FileNum
	Smallest, Largest []byte // the table's user-key range
	Filter            sstable.FilterAnswer
	Blocks            []sstable.BlockRead // data blocks read, in order
	Found             bool                // a version visible to the read
	Seq               SeqNum
	Kind              Kind
	RangeDelSeq       SeqNum // newest visible range tombstone covering the key (0: none)
}

// LevelTrace is a level (or an L0 table) a read passed without searching a
// table: Reason says why.
type LevelTrace struct {
	Level  int
	File   FileNum // an L0 table passed over, or 0
	Reason string
}

// ReadResultTrace ends a traced read.
type ReadResultTrace struct {
	Found  bool // the key has a value
	Seq    SeqNum
	Kind   Kind // of the version that decided: SET, DEL, or RANGEDEL
	Reason string
}

// WriteTrace describes a traced write once its record is in the log.
type WriteTrace struct {
	FirstSeq SeqNum // the batch's first sequence number
	Count    int    // operations in the batch; they take FirstSeq, FirstSeq+1, …
	LogFile  FileNum
	Offset   int64 // where the batch's record starts in the log (or the block padding before it)
	Size     int64 // bytes the record took in the log: framing, and any padding to the next block, included
	// Sync says the write asked to be synced. WrittenWith is how many
	// records (this one included) the log's flush goroutine handed to the
	// file in the same write; Synced says an fsync followed that write,
	// and SyncedWith how many records it made durable. FlushKnown is false
	// when the flush could not be found (the log failed, or too many
	// flushes happened since): the three are then unknown.
	Sync        bool
	FlushKnown  bool
	WrittenWith int
	Synced      bool
	SyncedWith  int
	// The memtable after the write: its accounted size and entries.
	MemTableSize    int64
	MemTableEntries int
}

func (*MemTableTrace) traceEvent()   {}
func (*TableTrace) traceEvent()      {}
func (*LevelTrace) traceEvent()      {}
func (*ReadResultTrace) traceEvent() {}
func (*WriteTrace) traceEvent()      {}

func (t *MemTableTrace) String() string {
	name := "memtable"
	if t.Immutable > 0 {
		name = fmt.Sprintf("immutable memtable %d", t.Immutable)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s filter: %s", name, t.Filter)
	switch {
	case t.Filter == "absent":
		b.WriteString("; tree not searched")
	case t.Found:
		fmt.Fprintf(&b, "; found #%d,%s", t.Seq, t.Kind)
	default:
		b.WriteString("; searched the tree: no version")
	}
	if t.RangeDelSeq != 0 {
		fmt.Fprintf(&b, "; range tombstone #%d covers the key", t.RangeDelSeq)
	}
	return b.String()
}

func (t *TableTrace) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s range [%q, %q] holds the key; bloom filter: %s",
		fmt.Sprintf("L%d %s.sst", t.Level, t.File), t.Smallest, t.Largest, t.Filter)
	for _, blk := range t.Blocks {
		from := "disk"
		if blk.Cached {
			from = "block cache"
		}
		fmt.Fprintf(&b, "\n    index: keys up to %q are in the data block at offset %d (%d bytes), read from the %s",
			blk.IndexKey.UserKey, blk.Handle.Offset, blk.Handle.Length, from)
	}
	switch {
	case t.Found:
		fmt.Fprintf(&b, "\n    found #%d,%s", t.Seq, t.Kind)
	case t.Filter != sstable.FilterAbsent:
		b.WriteString("\n    no version of the key")
	}
	if t.RangeDelSeq != 0 {
		fmt.Fprintf(&b, "\n    range tombstone #%d covers the key", t.RangeDelSeq)
	}
	return b.String()
}

func (t *LevelTrace) String() string {
	name := fmt.Sprintf("L%d", t.Level)
	if t.File != 0 {
		name = fmt.Sprintf("L%d %s.sst", t.Level, t.File)
	}
	return fmt.Sprintf("%-22s %s", name, t.Reason)
}

func (t *ReadResultTrace) String() string {
	if t.Found {
		return fmt.Sprintf("result                 found #%d,%s: %s", t.Seq, t.Kind, t.Reason)
	}
	if t.Seq != 0 {
		return fmt.Sprintf("result                 not found: %s (#%d,%s)", t.Reason, t.Seq, t.Kind)
	}
	return "result                 not found: " + t.Reason
}

func (t *WriteTrace) String() string {
	var b strings.Builder
	last := t.FirstSeq + base.SeqNum(t.Count) - 1
	if t.Count == 1 {
		fmt.Fprintf(&b, "sequence number        #%d", t.FirstSeq)
	} else {
		fmt.Fprintf(&b, "sequence numbers       #%d-#%d (%d operations)", t.FirstSeq, last, t.Count)
	}
	fmt.Fprintf(&b, "\nlog record             %s.log at offset %d, %d bytes", t.LogFile, t.Offset, t.Size)
	switch {
	case !t.FlushKnown:
		b.WriteString("\ngroup commit           unknown: the flush that wrote the record is not remembered")
	default:
		fmt.Fprintf(&b, "\ngroup commit           %s handed to the file in one write", plural(t.WrittenWith, "record", "records"))
	}
	switch {
	case t.FlushKnown && t.Synced:
		fmt.Fprintf(&b, "\nfsync                  %s made durable by one fsync", plural(t.SyncedWith, "record", "records"))
	case !t.Sync:
		b.WriteString("\nfsync                  none asked for: not a synced write")
	default:
		b.WriteString("\nfsync                  unknown")
	}
	fmt.Fprintf(&b, "\nmemtable               %s, %d bytes, after the write", plural(t.MemTableEntries, "entry", "entries"), t.MemTableSize)
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// GetWith is Get with per-call options.
func (db *DB) GetWith(key []byte, o *ReadOptions) ([]byte, error) {
	if o == nil || o.Trace == nil {
		return db.Get(key)
	}
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return db.getTraced(key, nil, o.Trace)
}
