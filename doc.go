// Package dkv is an embedded, persistent key-value store: a log-structured
// merge (LSM) storage engine written in Go.
//
//	db, err := dkv.Open("data", nil)
//	err = db.Put([]byte("greeting"), []byte("hello"))
//	v, err := db.Get([]byte("greeting")) // "hello"; ErrNotFound when absent
//	err = db.Delete([]byte("greeting"))
//	err = db.Close()
//
// # How it works
//
// A write takes the next sequence numbers, is appended to the write-ahead log
// (package wal) and is inserted into the memtable, a B-tree in memory
// (package memtable). A full memtable is flushed in the background to a
// sorted table (package sstable) in L0, and the MANIFEST (package manifest)
// records which tables make up the database. Background compactions
// (package compaction) merge tables down the levels L1 to L6, each ten times
// larger than the one above, dropping overwritten and deleted versions. A
// read consults the memtables, then the tables level by level; an Iterator
// merges them all under one sequence number; a Snapshot keeps one. Open
// replays the logs that tables do not yet cover. The README's "Reading the
// source" section is a guided tour.
//
// # Keys and values
//
// Keys are 1 to MaxKeySize bytes; the empty key is refused, so that a nil or
// empty bound always means "unbounded". Values are 0 to MaxValueSize bytes; an
// empty value is a value (Get returns an empty, non-nil slice). A batch
// encodes to at most MaxBatchSize bytes. Anything outside these limits fails
// with ErrInvalidArgument and changes nothing. dkv copies every key and value
// it is given, and every slice it returns belongs to the caller.
//
// # Durability contract
//
// A write is acknowledged when Put, Delete, DeleteRange or Write returns
// nil (for Ingest: when it returns nil; an ingestion is fsynced whatever the
// options).
//
//   - A synced write (the default; WriteOptions{Sync: true}) returns only
//     after its log record has been fsynced. It survives a crash of the
//     process (kill -9), of the operating system and a power loss, on a
//     filesystem and disk that honour fsync.
//   - A write with Options.NoSync (or WriteOptions{Sync: false}) returns once
//     its record is in the DB's log buffer. A goroutine hands the buffer to
//     the operating system continuously, normally within microseconds, and
//     from then on the write survives kill -9; a power loss or OS crash may
//     lose any write not yet fsynced. A later synced write, or Close, makes
//     every earlier write durable.
//   - A batch is atomic across any crash: recovery restores all of its
//     operations or none.
//   - Recovery restores a prefix of the acknowledged history, in order: if a
//     write is recovered, every write acknowledged before it is too. A write
//     that returned an error may or may not be recovered.
//   - Reads never see a synced write before it is durable, and a writer
//     always reads its own acknowledged writes.
//   - A failed write or fsync of the log is never retried as if the data
//     were safe: the DB refuses every further write with an error matching
//     ErrStopped (reads and Close keep working). Reopening recovers exactly
//     what the disk holds.
//   - Damaged bytes are reported as ErrCorruption with the file and offset,
//     never returned as data. The one exception recovery makes is the torn
//     tail of the newest log — appends cut short by a crash, recognised
//     because nothing intact after them shows they were ever fsynced —
//     which is truncated (see docs/format/wal.md, "Recovery rule").
//
// # Range deletion, ingestion and size estimates
//
// DB.DeleteRange(start, end) deletes every key in [start, end) with one
// write — a range tombstone — whatever the range holds; keys written after
// it are not deleted. As everywhere in dkv (iterator bounds, Compact, the
// estimates), a range is half-open and a nil bound is unbounded. Reads, iterators, snapshots and compaction respect
// it, and compaction drops it together with the data it covers. It is as
// durable and atomic as any write (also inside a batch).
//
// DB.Ingest adds tables built with sstable.Writer (Set, Delete,
// DeleteRange) atomically, all their keys at one new sequence number:
// newer than every write before the call.
//
// DB.EstimateDiskUsage and DB.EstimateSplitKey size a key range from the
// tables' indexes, without reading data (memtables are not counted).
//
// # Read-only opens and checkpoints
//
// Options.ReadOnly opens an existing database without writing anything to
// its directory: the logs are replayed into memory (a torn tail is read up
// to, and left in place), so a read-only DB of a crashed writer's directory
// sees every write a read-write Open would recover. Every write, Flush,
// Compact and Ingest fails with ErrReadOnly. Read-only DBs take the directory's lock
// shared, so any number of them share a directory, but never with a writer.
//
// DB.Checkpoint writes the database as of one moment to a new directory
// while writes go on: every write acknowledged before the call, and a
// prefix of the history like a recovery. The tables are hard-linked (copied
// where links fail), so a checkpoint is fast and costs little space until
// the DB compacts its tables away. It opens on its own, read-write or
// read-only, shares nothing that changes with the DB, and appears only once
// complete: after a crash it is complete or absent.
//
// # Concurrency contract
//
// A DB and a Snapshot are safe for concurrent use by any number of
// goroutines. Concurrent writes are serialized in one order (the order of
// their sequence numbers), and concurrent synced writes share fsyncs (group
// commit). A Batch and an Iterator are not safe for concurrent use.
// Compactions never block writes, except that writes slow down and then
// stop when L0 holds too many tables (Options.L0SlowdownThreshold,
// L0StopWritesThreshold), and wait when full memtables pile up
// (MemTableStopWritesThreshold). One directory is opened by one writer at a
// time, or by any number of read-only DBs: an Open that would break this,
// from this process or another, fails at once with ErrLocked.
//
// Close does not wait for iterators and snapshots: those left open fail
// with ErrClosed from then on, and Close reports them (ErrLeaked). Every
// handle — DB, Batch, Iterator, Snapshot — used after its Close returns an
// error matching ErrClosed.
//
// The library never panics on bad input or on bytes read from disk, and
// never exits the process.
package dkv
