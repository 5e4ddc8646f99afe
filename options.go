package dkv

import (
	"fmt"
	"log/slog"

	"github.com/distributedkv/dkv/vfs"
)

// Limits on what a DB accepts. An operation beyond them fails with
// ErrInvalidArgument and changes nothing.
const (
	// MaxKeySize is the longest key, in bytes. Keys are never empty.
	MaxKeySize = 64 << 10
	// MaxValueSize is the longest value, in bytes. Values may be empty.
	MaxValueSize = 256 << 20
	// MaxBatchSize bounds a batch's encoding: about the sum of its keys and
	// values plus a few bytes per operation.
	MaxBatchSize = 1 << 30
)

// Defaults for zero Options fields.
const (
	DefaultMemTableSize = 64 << 20
)

// Options configure a DB. The zero value of every field means "the default";
// EnsureDefaults fills them in and Validate checks them. Open does both on its
// own copy, so the caller's Options are never modified.
type Options struct {
	// FS is the filesystem the DB lives in. Default: vfs.Default, the
	// operating system's. Tests pass a vfs.MemFS.
	FS vfs.FS

	// NoSync makes writes return once their write-ahead log record is in
	// the DB's log buffer, without waiting for fsync. Default false: a write
	// returns only after its record is durable. WriteOptions.Sync overrides
	// it per write. See the package documentation for what survives which
	// crash.
	NoSync bool

	// MemTableSize is the memory, in bytes, a memtable may account for before
	// it is replaced by a fresh one. Default 64 MiB; at least 16 KiB.
	MemTableSize int64

	// Logger receives the DB's log lines (recovery, truncated logs, stopped
	// writes). Default: slog.Default().
	Logger *slog.Logger

	// EventListener, when set, is told about the DB's internal events.
	EventListener *EventListener
}

// EnsureDefaults fills in the zero fields of o with their defaults and
// returns o. A nil o gets a new Options.
func (o *Options) EnsureDefaults() *Options {
	if o == nil {
		o = &Options{}
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.EventListener == nil {
		o.EventListener = &EventListener{}
	}
	return o
}

// Validate reports the first field of o that is out of range, as an error
// matching ErrInvalidArgument. It does not apply defaults: call
// EnsureDefaults first when zero fields should mean the default.
func (o *Options) Validate() error {
	if o == nil {
		return fmt.Errorf("%w: nil Options", ErrInvalidArgument)
	}
	const minMemTable, maxMemTable = 16 << 10, 4 << 30
	if o.MemTableSize < minMemTable || o.MemTableSize > maxMemTable {
		return fmt.Errorf("%w: Options.MemTableSize %d is outside [%d, %d]",
			ErrInvalidArgument, o.MemTableSize, minMemTable, maxMemTable)
	}
	if o.FS == nil {
		return fmt.Errorf("%w: Options.FS is nil", ErrInvalidArgument)
	}
	return nil
}

// WriteOptions configure one write. A nil *WriteOptions means the DB's
// default: synced unless Options.NoSync.
type WriteOptions struct {
	// Sync makes the write return only after its log record is durable.
	Sync bool
}

// Sync and NoSync are ready-made WriteOptions.
var (
	Sync   = &WriteOptions{Sync: true}
	NoSync = &WriteOptions{Sync: false}
)
