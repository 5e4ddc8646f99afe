package dkv

import (
	"errors"

	"github.com/distributedkv/dkv/internal/base"
)

// The errors callers test for with errors.Is. Errors returned by dkv wrap
// these with detail: the file, the offset, the failed limit.
var (
	// ErrNotFound: Get found no value for the key.
	ErrNotFound = errors.New("dkv: not found")

	// ErrClosed: the DB was closed, or the Batch, Iterator or Snapshot
	// used was (its message says which). Iterators and snapshots also
	// return it once their DB is closed.
	ErrClosed = errors.New("dkv: database closed")

	// ErrLeaked: Close found iterators or snapshots still open. The DB
	// is closed all the same, and they fail with ErrClosed from then on.
	ErrLeaked = errors.New("dkv: closed with iterators or snapshots still open")

	// ErrLocked: another DB, in this process or another, has the directory
	// open.
	ErrLocked = errors.New("dkv: database directory locked")

	// ErrReadOnly: the DB was opened with Options.ReadOnly and the call
	// would write. Nothing was changed.
	ErrReadOnly = errors.New("dkv: database opened read-only")

	// ErrCorruption: bytes on disk failed a check. The error names the file
	// and offset (a *CorruptionError); the bytes are never returned as data.
	ErrCorruption = base.ErrCorruption

	// ErrInvalidArgument: a key, value, batch or option is outside what dkv
	// accepts. Nothing was changed.
	ErrInvalidArgument = errors.New("dkv: invalid argument")

	// ErrStopped: an earlier write or fsync of the write-ahead log or of the
	// MANIFEST failed, so the DB refuses every further write (reads and
	// Close still work). Whether the failed bytes reached the disk is
	// unknown; reopening the DB recovers every acknowledged write from what
	// the disk really holds.
	ErrStopped = errors.New("dkv: writes stopped after a failed log or MANIFEST write; reopen the database")

	// ErrCompactionFailing: L0 holds L0StopWritesThreshold tables and the
	// compaction that would shrink it failed (it is retried with backoff),
	// so the write was refused rather than left waiting for a retry that
	// may never succeed. Nothing was changed. Unlike ErrStopped it is not
	// sticky: writes go on once a compaction succeeds. The error wraps the
	// compaction's; Metrics and the EventListener's BackgroundError report
	// it too.
	ErrCompactionFailing = errors.New("dkv: L0 is full and compaction fails")
)

// CorruptionError is the concrete type of corruption errors: the file, the
// byte offset and the check that failed.
type CorruptionError = base.CorruptionError

// closedError is ErrClosed for a handle closed on its own (a Batch, an
// Iterator, a Snapshot), with a message that names it.
type closedError struct{ what string }

func (e *closedError) Error() string        { return "dkv: " + e.what + " used after Close" }
func (e *closedError) Is(target error) bool { return target == ErrClosed }

var (
	errBatchClosed    = &closedError{"batch"}
	errIteratorClosed = &closedError{"iterator"}
	errSnapshotClosed = &closedError{"snapshot"}
)
