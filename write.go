package dkv

import (
	"fmt"
	"sync"
	"time"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/killpoint"
	"github.com/distributedkv/dkv/memtable"
	"github.com/distributedkv/dkv/wal"
)

// The write path.
//
//  1. Under db.commit, a write takes the next sequence numbers, appends its
//     batch to the log buffer (wal.Writer.Append copies it and returns) and
//     inserts its operations into the memtable. Holding one lock for all
//     three keeps the log, the memtable and the sequence numbers in one
//     order, and keeps the memtable's single writer single.
//  2. The write is then published: db.visible, the sequence number reads
//     use, moves past it. A write that asked for Sync is published only
//     after the log's flush goroutine reports an fsync covering its record
//     (onSync); a write without Sync, once every write before it is
//     published. So a read never sees data that a crash could take back from
//     a synced writer, and a writer always reads its own write.
//  3. The writer returns once its write is published.
//
// Group commit falls out of step 2: while one fsync runs, later writers
// append to the buffer and all wait for the next fsync, which covers them
// all.

// pendingSync is a published-on-fsync write: its first sequence number and
// the log offset its record ends at.
type pendingSync struct {
	log   *logFile
	end   int64
	first base.SeqNum
}

// Put sets key to value, with the DB's default durability (see
// Options.NoSync). It copies key and value.
func (db *DB) Put(key, value []byte) error {
	b := getBatch()
	defer putBatch(b)
	if err := b.Put(key, value); err != nil {
		return err
	}
	return db.write(b, !db.opts.NoSync, nil)
}

// Delete removes key, with the DB's default durability. Deleting a missing
// key is not an error.
func (db *DB) Delete(key []byte) error {
	b := getBatch()
	defer putBatch(b)
	if err := b.Delete(key); err != nil {
		return err
	}
	return db.write(b, !db.opts.NoSync, nil)
}

// Write applies the batch atomically: readers see all of it or none, and
// after a crash either all of it or none of it is recovered. opts nil means
// the DB's default durability. An empty batch is a no-op. The batch may be
// reused after Write returns. A read-only DB refuses Write, Put and Delete
// with ErrReadOnly, even for an empty batch.
func (db *DB) Write(b *Batch, opts *WriteOptions) error {
	if b == nil {
		return fmt.Errorf("%w: nil batch", ErrInvalidArgument)
	}
	sync := !db.opts.NoSync
	var trace func(TraceEvent)
	if opts != nil {
		sync, trace = opts.Sync, opts.Trace
	}
	return db.write(b, sync, trace)
}

// Two pools recycle batch memory. batchPool holds whole batches, for the
// one-operation batches of Put, Delete and DeleteRange: they never leave
// the DB, so nobody else can hold one. bufPool holds the buffers of the
// batches callers Close, for NewBatch: a closed Batch handle may still be
// in a caller's hands, so it is never handed out again.
var (
	batchPool = sync.Pool{New: func() any { return new(Batch) }}
	bufPool   sync.Pool // *[]byte
)

// maxPooledBatch bounds the buffers the pools keep.
const maxPooledBatch = 1 << 20

// getBatch returns an empty batch for the DB's own use; putBatch takes it
// back.
func getBatch() *Batch { return batchPool.Get().(*Batch) }

func putBatch(b *Batch) {
	if cap(b.repr) > maxPooledBatch {
		return // let large buffers go
	}
	b.Reset()
	batchPool.Put(b)
}

// getBatchBuf returns an empty buffer for a new batch, nil when the pool
// has none.
func getBatchBuf() []byte {
	if p, ok := bufPool.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

func putBatchBuf(buf []byte) {
	if cap(buf) == 0 || cap(buf) > maxPooledBatch {
		return
	}
	bufPool.Put(&buf)
}

// tracedWrite is what a traced write learns on the way (see WriteTrace).
type tracedWrite struct {
	WriteTrace
	log *wal.Writer
	end int64 // the log offset just past the record
}

func (db *DB) write(b *Batch, sync bool, trace func(TraceEvent)) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if db.opts.ReadOnly {
		return ErrReadOnly
	}
	if b.err != nil {
		return b.err
	}
	if b.count == 0 {
		return nil
	}
	if err := db.throttleForL0(); err != nil {
		return err
	}

	var tw *tracedWrite
	if trace != nil {
		tw = new(tracedWrite)
	}
	db.commit.Lock()
	last, err := db.commitLocked(b, sync, tw)
	db.commit.Unlock()
	if err != nil {
		return err
	}
	if base.SeqNum(db.visible.Load()) < last {
		if err := db.waitPublished(last); err != nil {
			return err
		}
	}
	if tw != nil {
		tw.Sync = sync
		if fl, ok := tw.log.Flushed(tw.end); ok {
			tw.FlushKnown = true
			tw.WrittenWith, tw.Synced = fl.Records, fl.Synced
			if fl.Synced {
				tw.SyncedWith = fl.SyncedRecords
			}
		}
		trace(&tw.WriteTrace)
	}
	return nil
}

// commitLocked runs step 1 of the write path for b and records the write for
// publication. db.commit is held. It returns the batch's last sequence
// number. A traced write (tw not nil) notes where its record went.
func (db *DB) commitLocked(b *Batch, sync bool, tw *tracedWrite) (base.SeqNum, error) {
	c := &db.commit
	if db.closed.Load() {
		return 0, ErrClosed
	}
	if err := db.stopErr(); err != nil {
		return 0, err
	}
	if err := db.makeRoomForWrite(); err != nil {
		return 0, err
	}
	seq := c.nextSeq
	last := seq + base.SeqNum(b.count) - 1
	if last > base.SeqNumMax {
		return 0, fmt.Errorf("dkv: sequence numbers exhausted")
	}
	repr := b.repr
	if b.openEnded > 0 {
		repr = db.resolveOpenEnds(repr)
		if len(repr) > MaxBatchSize { // Batch reserved room for it: a bug
			return 0, fmt.Errorf("%w: batch of %d bytes exceeds MaxBatchSize once its range ends are fixed", ErrInvalidArgument, len(repr))
		}
	}
	setBatchSeqNum(repr, seq)
	var start int64
	if tw != nil {
		start = c.log.w.Size()
	}
	end, err := c.log.w.Append(repr, sync)
	if err != nil {
		return 0, db.stopWrites(err)
	}
	killpoint.Hit(killpoint.CommitLogged)
	applyBatch(c.mem, repr)
	if tw != nil {
		tw.FirstSeq, tw.Count, tw.LogFile, tw.Offset, tw.Size = seq, int(b.count), c.log.num, start, end-start
		tw.MemTableSize, tw.MemTableEntries = c.mem.ApproximateSize(), c.mem.Len()
		tw.log, tw.end = c.log.w, end
	}
	c.nextSeq = last + 1
	db.stats.userBytes.Add(int64(b.data))

	db.pub.Lock()
	db.pub.applied = last
	// The fsync may already have happened: the flush goroutine can run
	// before this lock is taken.
	if sync && end > c.log.durable {
		db.pub.pending = append(db.pub.pending, pendingSync{log: c.log, end: end, first: seq})
	}
	db.publishLocked()
	db.pub.Unlock()
	return last, nil
}

// applyBatch inserts the operations of an encoded batch into mem, operation
// i with the batch's sequence number plus i. The batch must be well formed:
// built by Batch or checked by checkBatch.
func applyBatch(mem *memtable.MemTable, repr []byte) {
	seq, _, r, err := decodeBatchHeader(repr)
	in := mem.Inserter()
	for err == nil {
		var op batchOp
		var ok bool
		if op, ok, err = r.next(); !ok {
			break
		}
		in.Add(seq, op.Kind, op.Key, op.Value)
		seq++
	}
	in.Finish()
	if err != nil {
		panic(fmt.Sprintf("dkv: applying a checked batch: %v", err))
	}
}

// publishLocked moves db.visible as far as the oldest write still waiting
// for its fsync allows. db.pub is held.
func (db *DB) publishLocked() {
	v := db.pub.applied
	if len(db.pub.pending) > 0 {
		v = db.pub.pending[0].first - 1
	}
	if base.SeqNum(db.visible.Load()) < v {
		db.visible.Store(uint64(v))
		db.pub.cond.Broadcast()
	}
}

// waitPublished blocks until the write ending at last is published, or
// fails with the reason it never will be.
func (db *DB) waitPublished(last base.SeqNum) error {
	db.pub.Lock()
	defer db.pub.Unlock()
	for base.SeqNum(db.visible.Load()) < last {
		if db.pub.stopErr != nil {
			return db.pub.stopErr
		}
		if db.pub.closed {
			return ErrClosed
		}
		db.pub.cond.Wait()
	}
	return nil
}

// onLogSync is the log writer's OnSync callback: it publishes the synced
// writes of log l up to offset durable, or stops writes if l failed. It runs
// on the log's flush goroutine and must not take db.commit, which Close and
// rotation hold while they wait for that goroutine.
func (db *DB) onLogSync(l *logFile, durable int64, err error) {
	if err != nil {
		db.stopWrites(err)
		return
	}
	db.pub.Lock()
	l.durable = durable
	i := 0
	for i < len(db.pub.pending) && db.pub.pending[i].log == l && db.pub.pending[i].end <= durable {
		i++
	}
	db.pub.pending = db.pub.pending[i:]
	db.publishLocked()
	db.pub.Unlock()
}

// stopWrites makes a log or MANIFEST failure sticky: every later write, and every write
// waiting for publication, fails with an error matching ErrStopped that
// wraps cause. Nothing is retried. It returns that error (the first one, if
// writes were already stopped). db.mu must not be held.
func (db *DB) stopWrites(cause error) error {
	db.pub.Lock()
	if first := db.pub.stopErr; first != nil {
		db.pub.Unlock()
		return first
	}
	err := fmt.Errorf("%w: %w", ErrStopped, cause)
	db.pub.stopErr = err
	db.stopped.Store(true)
	db.pub.Unlock()
	// Log and tell the listener before waking the waiting writers, so that
	// a writer that sees the error can count on the event having fired.
	db.logger.Error("dkv: writes stopped", "dir", db.dir, "err", cause)
	if db.events.WritesStopped != nil {
		db.events.WritesStopped(err)
	}
	db.pub.Lock()
	db.pub.cond.Broadcast()
	db.pub.Unlock()
	db.mu.Lock()
	db.mu.cond.Broadcast() // stalled writers and Flush callers
	db.mu.Unlock()
	return err
}

// stopErr returns the error writes stopped with, or nil.
func (db *DB) stopErr() error {
	if !db.stopped.Load() {
		return nil
	}
	db.pub.Lock()
	defer db.pub.Unlock()
	return db.pub.stopErr
}

// throttleForL0 makes a write wait while L0 holds L0StopWritesThreshold
// tables, and delays it by a millisecond past L0SlowdownThreshold, so that a
// write burst cannot outrun compaction and make every read consult more and
// more L0 tables. It runs before the commit lock is taken.
func (db *DB) throttleForL0() error {
	n := len(db.readState.Load().version.Levels[0])
	if n < db.opts.L0SlowdownThreshold {
		if db.slowing.Load() && db.slowing.CompareAndSwap(true, false) {
			db.logger.Info("dkv: writes no longer slowed", "dir", db.dir, "l0 tables", n)
		}
		return nil
	}
	if n < db.opts.L0StopWritesThreshold {
		if db.slowing.CompareAndSwap(false, true) {
			db.logger.Warn("dkv: writes slowed until compaction shrinks L0", "dir", db.dir, "l0 tables", n)
		}
		db.stats.l0Slowdowns.Add(1)
		time.Sleep(time.Millisecond)
		return nil
	}
	start := time.Now()
	db.stats.l0Stops.Add(1)
	db.mu.Lock()
	defer db.mu.Unlock()
	if len(db.mu.version.Levels[0]) >= db.opts.L0StopWritesThreshold {
		db.logger.Warn("dkv: writes stopped until compaction shrinks L0", "dir", db.dir, "l0 tables", len(db.mu.version.Levels[0]))
		if db.events.WriteStallBegin != nil {
			db.events.WriteStallBegin(WriteStallInfo{Reason: "L0 holds L0StopWritesThreshold tables"})
		}
		for len(db.mu.version.Levels[0]) >= db.opts.L0StopWritesThreshold && !db.mu.closing && !db.stopped.Load() &&
			db.mu.compactions.lastErr == nil {
			db.mu.cond.Wait()
		}
		if db.events.WriteStallEnd != nil {
			db.events.WriteStallEnd()
		}
	}
	db.stats.l0StopNanos.Add(int64(time.Since(start)))
	switch {
	case db.mu.closing:
		return ErrClosed
	case db.stopped.Load():
		return db.stopErrLocked()
	case len(db.mu.version.Levels[0]) >= db.opts.L0StopWritesThreshold && db.mu.compactions.lastErr != nil:
		// The compaction that would shrink L0 failed (it is retried with
		// backoff): fail the write, which changed nothing, rather than
		// wait for a retry that may never succeed — damage or a failing
		// disk. Writes go on once a compaction succeeds.
		return fmt.Errorf("%w: %w", ErrCompactionFailing, db.mu.compactions.lastErr)
	}
	return nil
}
