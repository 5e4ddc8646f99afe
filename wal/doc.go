// Package wal is dkv's write-ahead log: every batch is appended here, and
// made durable here, before it is applied to the memtable. After a crash the
// log is replayed to rebuild what the memtables held.
//
// A log file is a sequence of 32 KiB blocks holding checksummed chunks; a
// record (one encoded batch) is one chunk or is split across several. The
// first chunk of every file is a header with a magic string, the format
// version and the log's number. docs/format/wal.md specifies the bytes, with
// a worked example and the recovery rule.
//
// Writer appends records. Append copies the record into a buffer and returns;
// a goroutine owned by the Writer writes the buffer to the file and fsyncs it
// when a caller asked for durability, reporting each fsync through
// WriterOptions.OnSync. Concurrent appends that arrive during an fsync share
// the next one (group commit). Write and sync errors are sticky: a Writer
// that failed never writes again.
//
// Reader returns the records of a log in order, and decides what a damaged
// end means: the remains of an append a crash interrupted (a torn tail,
// reported by Tail and truncated by recovery) or corruption (a
// *base.CorruptionError with file and offset, never skipped).
//
// Slices returned by Reader.Next are valid until the next call. Append does
// not keep the slice it is given.
package wal
