// Package vfs is the only way dkv touches files. Every file the engine
// creates, reads, syncs, renames or removes goes through an FS, so that tests
// can swap the operating system's filesystem for one that lives in memory and
// can be crashed.
//
// Two implementations, and a wrapper for tests:
//
//   - Default: the operating system's filesystem, with LOCK files held by
//     flock(2) and hard links made by link(2).
//   - MemFS (NewMem): files in memory that remember what was made durable.
//     File contents are durable once the file is synced; a directory entry
//     (create, rename, link, remove) is durable once its directory is
//     synced, as on a POSIX filesystem that promises nothing more.
//     CrashClone returns the filesystem a machine would find after losing
//     power at that moment.
//   - ErrorFS (NewErrorFS): wraps any FS and fails the operations an
//     Injector picks — by operation (read, write, sync, create, rename,
//     link, remove, ...) and kind of file (log, table, MANIFEST, CURRENT, ...),
//     at the n-th match (OnNth), from then on (Sticky) or at random with a
//     seed (Random) — with EIO, ENOSPC or any error, counting every
//     operation. The fault-injection suites use it over a MemFS.
//
// Contract of File: Write appends at the handle's offset; nothing written is
// durable until Sync returns nil. A Sync that returns an error leaves the
// file's durable contents unknown: callers must not retry it as if the data
// were safe.
//
// Locks: FS.Lock is exclusive (a database's writer), FS.LockShared is
// shared (its read-only openers). Any number of shared locks coexist; an
// exclusive lock excludes every other lock of the name, in this process and
// in others, and a refused lock fails at once with ErrLocked rather than
// wait.
//
// An FS is safe for concurrent use. A File is safe for one writer; ReadAt may
// run concurrently with other calls.
package vfs
