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
	"github.com/distributedkv/dkv/sstable"
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

	closed  atomic.Bool
	closeCh chan struct{} // closed by Close: background work stops

	// visible is the sequence number reads use: every write numbered at or
	// below it is applied and, if it asked for it, durable.
	visible atomic.Uint64

	// readState is what a read consults: the memtables, newest first, and
	// the version of the tables. It is replaced, never modified (under
	// db.mu), when the memtable rotates or a flush installs a table.
	iterators atomic.Int64 // open iterators
	readState atomic.Pointer[readState]

	// commit serializes the write path: sequence numbers, log appends and
	// memtable inserts happen in one order (write.go).
	commit struct {
		sync.Mutex
		nextSeq base.SeqNum
		mem     *memtable.MemTable
		log     *logFile
	}

	// stopped is set once writes are refused (pub.stopErr says why).
	stopped atomic.Bool
	// slowing is set while writes are delayed for L0 (logged on change).
	slowing atomic.Bool

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

	// mu guards the memtables and the version that reads see, and the
	// flush queue (flush.go). Lock order: commit, then mu, then pub.
	mu struct {
		sync.Mutex
		cond     sync.Cond // signalled when a flush finishes, fails, or Close starts
		mem      *memtable.MemTable
		imm      []*flushable // full memtables, oldest first
		version  *version     // the current version (one reference)
		logNum   base.FileNum // the mutable memtable's log
		nextID   uint64       // id of the next memtable to become immutable
		flushed  uint64       // ids below this are flushed
		flushErr error        // the last flush's error, until one succeeds
		closing  bool
		opened   bool // Open succeeded: background compactions may start

		compactions compactionState // compact.go
		snapshots   snapshotList    // snapshot.go
		checkpoints int             // Checkpoint calls under way: Close waits for them
	}
	flushDone chan struct{} // closed when the flush goroutine exits

	obs obsolete // live versions and tables waiting for deletion (refs.go)

	// replayed lists, in a read-only DB, the logs Open replayed into the
	// memtables: Checkpoint copies them, since it cannot flush them.
	replayed []replayedLog

	versions   *versionSet
	tableCache *tableCache
	blockCache *sstable.Cache

	// wal accumulates the counters of closed log writers and points at the
	// current one, for Metrics (which must not wait for db.commit: a stalled
	// writer holds it).
	wal struct {
		sync.Mutex
		closed  wal.Stats
		current *wal.Writer
	}
	stats dbStats
}

// logFile is the write-ahead log the memtable's writes go to.
type logFile struct {
	num     base.FileNum
	path    string
	w       *wal.Writer
	durable int64 // offset the last fsync covered; guarded by db.pub
}

// Open opens the database in dir, creating dir and an empty database if
// needed, and replays the write-ahead logs that a previous DB left. opts may
// be nil for the defaults; Open works on a copy of it.
//
// Open fails with an error matching ErrLocked when another DB has dir open,
// ErrCorruption when the MANIFEST or a log is damaged (anywhere but in the
// newest log's torn tail) or a table it names is missing, and
// ErrInvalidArgument for bad options. A failed Open loses nothing that was
// acknowledged: it may have created the directory and its LOCK file,
// truncated a torn log tail, written the memtables of older logs as tables,
// or started a new log or MANIFEST, all of which the next Open takes up.
//
// With Options.ReadOnly, Open writes nothing at all: it fails when dir, its
// LOCK file or its CURRENT file is missing (an error matching
// fs.ErrNotExist), and otherwise sees every write a read-write Open would
// recover, from memory.
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
		dir:       dir,
		opts:      &o,
		fs:        o.FS,
		comparer:  base.DefaultComparer,
		logger:    o.Logger,
		events:    o.EventListener,
		closeCh:   make(chan struct{}),
		flushDone: make(chan struct{}),
	}
	db.pub.cond.L = &db.pub.Mutex
	db.mu.cond.L = &db.mu.Mutex
	db.obs.cond.L = &db.obs.Mutex
	db.obs.live = map[*version]struct{}{}
	db.obs.zombies = map[base.FileNum]uint64{}
	db.versions = &versionSet{fs: db.fs, dir: dir, comparer: db.comparer, maxSize: o.MaxManifestFileSize}
	db.versions.nextFileNum.Store(1)
	if o.CacheSize > 0 {
		db.blockCache = sstable.NewCache(o.CacheSize)
	}
	ropts := sstable.ReaderOptions{Comparer: db.comparer, Cache: db.blockCache, Stats: &db.stats.filter}
	if db.blockCache != nil {
		ropts.CacheID = db.blockCache.NewID()
	}
	db.tableCache = newTableCache(db.fs, dir, o.MaxOpenFiles, ropts)

	if o.ReadOnly {
		if err := db.requireDir(); err != nil {
			return nil, err
		}
	} else if err := db.createDir(); err != nil {
		return nil, err
	}
	if err := db.lockDir(); err != nil {
		return nil, err
	}
	if err := db.recover(); err != nil {
		db.abandon()
		return nil, err
	}
	if o.ReadOnly {
		// Nothing runs in the background: no flush, no compaction
		// (db.mu.opened stays false).
		close(db.flushDone)
		return db, nil
	}
	// The memtables of older logs are flushed before Open returns: a
	// database whose flushes keep failing must not grow its memory with
	// every restart.
	for len(db.mu.imm) > 0 {
		if err := db.flush(db.mu.imm[0]); err != nil {
			db.abandon()
			return nil, fmt.Errorf("dkv: flush the recovered memtables: %w", err)
		}
	}
	go db.flushLoop()
	db.mu.Lock()
	db.mu.opened = true
	db.maybeScheduleCompactionLocked()
	db.mu.Unlock()
	return db, nil
}

// abandon releases what a failed Open had acquired.
func (db *DB) abandon() {
	db.releaseMemory()
	if l := db.commit.log; l != nil {
		_ = l.w.Close()
	}
	_ = db.versions.close()
	db.tableCache.close()
	if db.blockCache != nil {
		db.blockCache.Close()
	}
	_ = db.lock.Close()
}

// lockDir takes the directory's LOCK: exclusively for a writer, shared for a
// read-only DB, which needs the file to exist (it creates nothing).
func (db *DB) lockDir() error {
	name := db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeLock, 0))
	lock := db.fs.Lock
	if db.opts.ReadOnly {
		lock = db.fs.LockShared
	}
	l, err := lock(name)
	switch {
	case err == nil:
		db.lock = l
		return nil
	case errors.Is(err, vfs.ErrLocked):
		// err reads "vfs: lock already held: DIR/LOCK, by this process".
		return fmt.Errorf("%w (%v)", ErrLocked, err)
	case db.opts.ReadOnly && errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("dkv: open %s read-only: no LOCK file, so no database here: %w", db.dir, err)
	}
	return fmt.Errorf("dkv: lock %s: %w", db.dir, err)
}

// requireDir is createDir for a read-only DB: the directory must exist.
func (db *DB) requireDir() error {
	info, err := db.fs.Stat(db.dir)
	if err != nil {
		return fmt.Errorf("dkv: open %s read-only (which creates nothing): %w", db.dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("%w: open %s read-only: not a directory", ErrInvalidArgument, db.dir)
	}
	return nil
}

// createDir makes the database directory and any missing parents, syncing
// the parent of each directory it creates so that the directories
// themselves survive a power failure.
func (db *DB) createDir() error {
	var missing []string // the directories to create, outermost last
	for d := db.dir; ; d = db.fs.PathDir(d) {
		if info, err := db.fs.Stat(d); err == nil {
			if !info.IsDir() {
				return fmt.Errorf("%w: %s is not a directory", ErrInvalidArgument, d)
			}
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("dkv: %w", err) // "stat DIR: …" names the path
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

// Close waits for a flush in progress, cancels the compactions and
// checkpoints under way and waits for them, writes and fsyncs what remains
// in the write-ahead log buffer, and releases the directory. Memtables are not
// flushed: their logs hold them. Every write acknowledged before Close is
// durable when Close returns nil; an error matching ErrStopped means the
// log could not be made durable, and reopening recovers what the disk
// holds. Calls on a closed DB return ErrClosed; Close itself returns
// ErrClosed the second time.
//
// Close does not wait for iterators and snapshots left open: from then on
// they fail with ErrClosed (closing them still works), and Close reports
// them with an error matching ErrLeaked — the DB is closed all the same.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return ErrClosed
	}
	close(db.closeCh)
	db.mu.Lock()
	db.mu.closing = true
	var leaked error
	if n, m := db.iterators.Load(), db.mu.snapshots.len(); n > 0 || m > 0 {
		leaked = fmt.Errorf("%w: %d iterators and %d snapshots", ErrLeaked, n, m)
	}
	db.mu.cond.Broadcast() // stalled writers, Flush callers, the flush loop
	for db.mu.compactions.running > 0 || db.mu.checkpoints > 0 {
		db.mu.cond.Wait() // compactions and checkpoints see closeCh and stop
	}
	db.mu.Unlock()
	<-db.flushDone

	db.commit.Lock()
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

	if verr := db.versions.close(); err == nil && verr != nil {
		err = fmt.Errorf("dkv: close MANIFEST: %w", verr)
	}
	if cerr := db.checkInvariantsOnClose(); err == nil && cerr != nil {
		err = cerr
	}
	db.obs.Lock()
	db.obs.closed = true // the iterators left open delete nothing later
	db.obs.Unlock()
	db.releaseMemory()
	db.waitDeletions()
	db.tableCache.close()
	if db.blockCache != nil {
		db.blockCache.Close()
	}
	if lerr := db.lock.Close(); err == nil && lerr != nil {
		err = fmt.Errorf("dkv: release lock: %w", lerr)
	}
	return errors.Join(err, leaked)
}

// closeLog closes a log writer, adding its counters to the DB's.
func (db *DB) closeLog(l *logFile) error {
	if l == nil {
		return nil
	}
	err := l.w.Close()
	s := l.w.Stats()
	db.wal.Lock()
	db.wal.closed.Records += s.Records
	db.wal.closed.Bytes += s.Bytes
	db.wal.closed.Writes += s.Writes
	db.wal.closed.Syncs += s.Syncs
	if db.wal.current == l.w {
		db.wal.current = nil
	}
	db.wal.Unlock()
	return err
}

// setCurrentLog records the log writer Metrics reads.
func (db *DB) setCurrentLog(w *wal.Writer) {
	db.wal.Lock()
	db.wal.current = w
	db.wal.Unlock()
}
