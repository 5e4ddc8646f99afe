package dkv

import (
	"fmt"
	"log/slog"

	"github.com/distributedkv/dkv/compaction"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/sstable"
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
	DefaultMemTableSize                = 64 << 20
	DefaultMemTableStopWritesThreshold = 2
	DefaultCacheSize                   = 64 << 20
	DefaultMaxOpenFiles                = 1000
	DefaultBloomBitsPerKey             = 10
	DefaultMaxManifestFileSize         = 64 << 20
	DefaultBlockSize                   = 4 << 10
	DefaultL0CompactionThreshold       = 4
	DefaultL0SlowdownThreshold         = 8
	DefaultL0StopWritesThreshold       = 12
	DefaultLBaseMaxBytes               = 64 << 20
	DefaultTargetFileSize              = 8 << 20
	DefaultMaxConcurrentCompactions    = 1

	// LevelMultiplier is how many times larger each level's target is than
	// the level above's.
	LevelMultiplier = 10
)

// NumLevels is the number of levels of the LSM tree: L0 to L6.
const NumLevels = manifest.NumLevels

// Compression selects how a level's table blocks are compressed. The zero
// value means the level's default: Snappy for L0–L5, Zstd for the bottom
// level (L6), where most data lives and is read least.
type Compression int

const (
	DefaultCompression Compression = iota
	NoCompression
	SnappyCompression
	ZstdCompression
)

func (c Compression) String() string {
	switch c {
	case DefaultCompression:
		return "default"
	case NoCompression:
		return "none"
	case SnappyCompression:
		return "snappy"
	case ZstdCompression:
		return "zstd"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// LevelOptions configure the tables of one level.
type LevelOptions struct {
	// BlockSize is the target uncompressed size of a data block. Default
	// 4 KiB.
	BlockSize int
	// Compression of the level's blocks; see Compression.
	Compression Compression
}

// Options configure a DB. The zero value of every field means "the default";
// EnsureDefaults fills them in and Validate checks them. Open does both on its
// own copy, so the caller's Options are never modified.
type Options struct {
	// FS is the filesystem the DB lives in. Default: vfs.Default, the
	// operating system's. Tests pass a vfs.MemFS.
	FS vfs.FS

	// ReadOnly opens an existing database without changing anything in its
	// directory: Open reads the MANIFEST and replays the live logs into
	// memtables (ignoring a torn tail, which it leaves in place), and
	// nothing is ever flushed, compacted, created or deleted. Put, Delete,
	// Write, Flush and Compact fail with ErrReadOnly; reads, snapshots,
	// Metrics and Checkpoint work. The directory must hold a database:
	// Open creates nothing. Any number of read-only DBs may share a
	// directory, in this process or others, but none may share it with a
	// writer: whichever comes second fails with ErrLocked.
	ReadOnly bool

	// NoSync makes writes return once their write-ahead log record is in
	// the DB's log buffer, without waiting for fsync. Default false: a write
	// returns only after its record is durable. WriteOptions.Sync overrides
	// it per write. See the package documentation for what survives which
	// crash.
	NoSync bool

	// MemTableSize is the memory, in bytes, a memtable may account for before
	// it is replaced by a fresh one and flushed to a table. Default 64 MiB;
	// at least 4 KiB.
	MemTableSize int64

	// MemTableStopWritesThreshold is how many full memtables may wait for
	// their flush before writers wait too (a write stall, counted in
	// Metrics), so that memory stays bounded when the disk is slower than
	// the writers. Default 2.
	MemTableStopWritesThreshold int

	// CacheSize is the memory, in bytes, of the block cache shared by all
	// tables. Default 64 MiB. Negative: no cache.
	CacheSize int64

	// MaxOpenFiles bounds the tables held open at once. Default 1000; at
	// least 16.
	MaxOpenFiles int

	// BloomBitsPerKey sizes each table's bloom filter: 10 bits per key
	// give about 1% false positives. Default 10. Negative: no filters.
	BloomBitsPerKey int

	// Levels configure the tables of each level. Zero fields take the
	// defaults.
	Levels [NumLevels]LevelOptions

	// MaxManifestFileSize is the size past which the MANIFEST is rewritten
	// as a snapshot in a new file. Default 64 MiB.
	MaxManifestFileSize int64

	// L0CompactionThreshold is the number of L0 tables that starts a
	// compaction of L0 into L1. Default 4.
	L0CompactionThreshold int
	// L0SlowdownThreshold is the number of L0 tables past which each write
	// is delayed by a millisecond, giving compaction room. Default 8.
	L0SlowdownThreshold int
	// L0StopWritesThreshold is the number of L0 tables at which writes wait
	// for compaction. Default 12.
	L0StopWritesThreshold int
	// LBaseMaxBytes is L1's target size; each deeper level's is
	// LevelMultiplier times larger. A level over its target is compacted
	// into the next. Default 64 MiB.
	LBaseMaxBytes int64
	// TargetFileSize is the size at which compaction output is cut into
	// a new table. Default 8 MiB.
	TargetFileSize int64
	// MaxConcurrentCompactions bounds the compactions running at once.
	// Default 1.
	MaxConcurrentCompactions int

	// Logger receives the DB's log lines: recovery (a torn log tail
	// truncated), stopped or stalled writes, failed background work
	// (retried), ingests, checkpoints. Default: none — an embedded library
	// stays quiet unless given a logger; pass slog.Default() to log where
	// the program does. What a caller must act on is also an error it gets
	// back, or an EventListener call (BackgroundError, WritesStopped, WriteStallBegin).
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
	if o.MemTableStopWritesThreshold == 0 {
		o.MemTableStopWritesThreshold = DefaultMemTableStopWritesThreshold
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MaxOpenFiles == 0 {
		o.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = DefaultBloomBitsPerKey
	}
	if o.MaxManifestFileSize == 0 {
		o.MaxManifestFileSize = DefaultMaxManifestFileSize
	}
	if o.L0CompactionThreshold == 0 {
		o.L0CompactionThreshold = DefaultL0CompactionThreshold
	}
	if o.L0SlowdownThreshold == 0 {
		o.L0SlowdownThreshold = max(DefaultL0SlowdownThreshold, o.L0CompactionThreshold)
	}
	if o.L0StopWritesThreshold == 0 {
		o.L0StopWritesThreshold = max(DefaultL0StopWritesThreshold, o.L0SlowdownThreshold)
	}
	if o.LBaseMaxBytes == 0 {
		o.LBaseMaxBytes = DefaultLBaseMaxBytes
	}
	if o.TargetFileSize == 0 {
		o.TargetFileSize = DefaultTargetFileSize
	}
	if o.MaxConcurrentCompactions == 0 {
		o.MaxConcurrentCompactions = DefaultMaxConcurrentCompactions
	}
	for i := range o.Levels {
		l := &o.Levels[i]
		if l.BlockSize == 0 {
			l.BlockSize = DefaultBlockSize
		}
		if l.Compression == DefaultCompression {
			l.Compression = SnappyCompression
			if i == NumLevels-1 {
				l.Compression = ZstdCompression
			}
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
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
	const minMemTable, maxMemTable = 4 << 10, 4 << 30
	if o.MemTableSize < minMemTable || o.MemTableSize > maxMemTable {
		return fmt.Errorf("%w: Options.MemTableSize %d is outside [%d, %d]",
			ErrInvalidArgument, o.MemTableSize, minMemTable, maxMemTable)
	}
	if o.FS == nil {
		return fmt.Errorf("%w: Options.FS is nil", ErrInvalidArgument)
	}
	if o.MemTableStopWritesThreshold < 1 {
		return fmt.Errorf("%w: Options.MemTableStopWritesThreshold %d is below 1", ErrInvalidArgument, o.MemTableStopWritesThreshold)
	}
	if o.MaxOpenFiles < 16 {
		return fmt.Errorf("%w: Options.MaxOpenFiles %d is below 16", ErrInvalidArgument, o.MaxOpenFiles)
	}
	if o.BloomBitsPerKey > 64 {
		return fmt.Errorf("%w: Options.BloomBitsPerKey %d is above 64", ErrInvalidArgument, o.BloomBitsPerKey)
	}
	if o.MaxManifestFileSize < 1<<10 {
		return fmt.Errorf("%w: Options.MaxManifestFileSize %d is below 1 KiB", ErrInvalidArgument, o.MaxManifestFileSize)
	}
	if o.L0CompactionThreshold < 1 || o.L0SlowdownThreshold < o.L0CompactionThreshold || o.L0StopWritesThreshold < o.L0SlowdownThreshold {
		return fmt.Errorf("%w: L0 thresholds must satisfy 1 <= L0CompactionThreshold (%d) <= L0SlowdownThreshold (%d) <= L0StopWritesThreshold (%d)",
			ErrInvalidArgument, o.L0CompactionThreshold, o.L0SlowdownThreshold, o.L0StopWritesThreshold)
	}
	if o.LBaseMaxBytes < 1<<10 {
		return fmt.Errorf("%w: Options.LBaseMaxBytes %d is below 1 KiB", ErrInvalidArgument, o.LBaseMaxBytes)
	}
	if o.TargetFileSize < 1<<10 {
		return fmt.Errorf("%w: Options.TargetFileSize %d is below 1 KiB", ErrInvalidArgument, o.TargetFileSize)
	}
	if o.MaxConcurrentCompactions < 1 || o.MaxConcurrentCompactions > 64 {
		return fmt.Errorf("%w: Options.MaxConcurrentCompactions %d is outside [1, 64]", ErrInvalidArgument, o.MaxConcurrentCompactions)
	}
	for i, l := range o.Levels {
		if l.BlockSize < 256 || l.BlockSize > 4<<20 {
			return fmt.Errorf("%w: Options.Levels[%d].BlockSize %d is outside [256, 4 MiB]", ErrInvalidArgument, i, l.BlockSize)
		}
		if l.Compression < NoCompression || l.Compression > ZstdCompression {
			return fmt.Errorf("%w: Options.Levels[%d].Compression %d is unknown", ErrInvalidArgument, i, l.Compression)
		}
	}
	return nil
}

// tableCompression maps a level's Compression to the table format's.
func (l LevelOptions) tableCompression() sstable.Compression {
	switch l.Compression {
	case SnappyCompression:
		return sstable.SnappyCompression
	case ZstdCompression:
		return sstable.ZstdCompression
	}
	return sstable.NoCompression
}

// WriteOptions configure one write. A nil *WriteOptions means the DB's
// default: synced unless Options.NoSync.
type WriteOptions struct {
	// Sync makes the write return only after its log record is durable.
	Sync bool
	// Trace, when set, receives a *WriteTrace once the write's record is
	// in the log (see TraceEvent). Tracing waits for the log's flush
	// goroutine to hand the record to the file, to report its group.
	Trace func(TraceEvent)
}

// Sync and NoSync are ready-made WriteOptions.
var (
	Sync   = &WriteOptions{Sync: true}
	NoSync = &WriteOptions{Sync: false}
)

// compactionOptions returns the picker's view of the options.
func (o *Options) compactionOptions() compaction.Options {
	return compaction.Options{
		L0CompactionThreshold: o.L0CompactionThreshold,
		LBaseMaxBytes:         o.LBaseMaxBytes,
		LevelMultiplier:       LevelMultiplier,
		TargetFileSize:        o.TargetFileSize,
	}
}
