package dkv

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/memtable"
	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

// DB is an open database. It is safe for concurrent use by any number of
// goroutines.
type DB struct {
	dir      string
	opts     *Options
	fs       vfs.FS
	comparer *base.Comparer
	logger   *slog.Logger
	events   *EventListener
	lock     io.Closer

	closed atomic.Bool

	// visible is the sequence number reads use: every write numbered at or
	// below it is applied and, if it asked for it, durable.
	visible atomic.Uint64

	// readState is what a read consults, newest first. It is replaced, never
	// modified, when the memtable rotates.
	readState atomic.Pointer[readState]

	// commit serializes the write path: sequence numbers, log appends and
	// memtable inserts happen in one order (write.go).
	commit struct {
		sync.Mutex
		nextSeq     base.SeqNum
		nextFileNum base.FileNum
		mem         *memtable.MemTable
		log         *logFile
	}

	// stopped is set once writes are refused (pub.stopErr says why).
	stopped atomic.Bool

	// pub publishes writes to readers in sequence order, once durable
	// where asked (write.go).
	pub struct {
		sync.Mutex
		cond    sync.Cond
		applied base.SeqNum   // last sequence number in a memtable
		pending []pendingSync // synced writes waiting for their fsync, in order
		stopErr error         // why writes stopped: waiting writes fail with it
		closed  bool          // Close ran: waiting writes fail with ErrClosed
	}

	// walStats accumulates the counters of closed log writers.
	walStats wal.Stats
}

// logFile is the write-ahead log the memtable's writes go to.
type logFile struct {
	num     base.FileNum
	path    string
	w       *wal.Writer
	durable int64 // offset the last fsync covered; guarded by db.pub
}

// readState is an immutable view of the memtables.
type readState struct {
	mem *memtable.MemTable   // the mutable memtable
	imm []*memtable.MemTable // full memtables, newest first
}

// Open opens the database in dir, creating dir and an empty database if
// needed, and replays the write-ahead logs that a previous DB left. opts may
// be nil for the defaults; Open works on a copy of it.
//
// Open fails with an error matching ErrLocked when another DB has dir open,
// ErrCorruption when a log is damaged anywhere but in its torn tail, and
// ErrInvalidArgument for bad options. A failed Open changes no data: at
// most it has created the directory and its LOCK file, truncated a torn log
// tail or removed logs that held nothing.
func Open(dir string, opts *Options) (*DB, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty directory name", ErrInvalidArgument)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	db := &DB{
		dir:      dir,
		opts:     &o,
		fs:       o.FS,
		comparer: base.DefaultComparer,
		logger:   o.Logger,
		events:   o.EventListener,
	}
	db.pub.cond.L = &db.pub.Mutex

	if err := db.createDir(); err != nil {
		return nil, err
	}
	lock, err := db.fs.Lock(db.fs.PathJoin(dir, base.MakeFilename(base.FileTypeLock, 0)))
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			// err reads "vfs: lock already held: DIR/LOCK, by this process".
			return nil, fmt.Errorf("%w (%v)", ErrLocked, err)
		}
		return nil, fmt.Errorf("dkv: lock %s: %w", dir, err)
	}
	db.lock = lock
	if err := db.recover(); err != nil {
		if l := db.commit.log; l != nil {
			_ = l.w.Close()
		}
		_ = lock.Close()
		return nil, err
	}
	return db, nil
}

// createDir makes the database directory and any missing parents, syncing
// the parent of each directory it creates so that the directories
// themselves survive a power failure.
func (db *DB) createDir() error {
	var missing []string // the directories to create, outermost last
	for d := db.dir; ; d = db.fs.PathDir(d) {
		if _, err := db.fs.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("dkv: stat %s: %w", d, err)
		}
		missing = append(missing, d)
		if parent := db.fs.PathDir(d); parent == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := db.fs.MkdirAll(db.dir, 0o755); err != nil {
		return fmt.Errorf("dkv: create %s: %w", db.dir, err)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := vfs.SyncDir(db.fs, db.fs.PathDir(missing[i])); err != nil {
			return fmt.Errorf("dkv: %w", err)
		}
	}
	return nil
}

// Close writes and fsyncs what remains in the write-ahead log buffer, then
// releases the directory. Every write acknowledged before Close is durable
// when Close returns nil; an error matching ErrStopped means the log could
// not be made durable, and reopening recovers what the disk holds. Calls on a closed DB return ErrClosed; Close
// itself returns ErrClosed the second time.
func (db *DB) Close() error {
	db.commit.Lock()
	if db.closed.Swap(true) {
		db.commit.Unlock()
		return ErrClosed
	}
	err := db.closeLog(db.commit.log)
	db.commit.Unlock()
	if stopped := db.stopErr(); stopped != nil {
		// Acknowledged writes may not be durable: say so, whatever closing
		// the last log returned.
		err = stopped
	}

	// Writers still waiting for publication cannot be served any more.
	db.pub.Lock()
	db.pub.closed = true
	db.pub.cond.Broadcast()
	db.pub.Unlock()

	if lerr := db.lock.Close(); err == nil && lerr != nil {
		err = fmt.Errorf("dkv: release lock: %w", lerr)
	}
	return err
}

// closeLog closes a log writer, adding its counters to the DB's.
func (db *DB) closeLog(l *logFile) error {
	if l == nil {
		return nil
	}
	err := l.w.Close()
	s := l.w.Stats()
	db.walStats.Records += s.Records
	db.walStats.Bytes += s.Bytes
	db.walStats.Writes += s.Writes
	db.walStats.Syncs += s.Syncs
	return err
}
