package dkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/distributedkv/dkv/compaction"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/iterator"
	"github.com/distributedkv/dkv/internal/killpoint"
	"github.com/distributedkv/dkv/internal/rangedel"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/sstable"
)

// Compaction scheduling.
//
// After every flush and every compaction the picker looks at the current
// version (maybeScheduleCompactionLocked); when a level needs work and
// fewer than MaxConcurrentCompactions run, a goroutine runs the plan. The
// tables a compaction reads are marked busy so that concurrent compactions
// never share one. A compaction never holds a lock writers need: it merges
// its inputs in the background, and only the version edit at the end goes
// through the MANIFEST, like a flush's. A failed compaction removes its
// outputs and is retried after a growing pause; a failed MANIFEST write
// stops writes.

// compactionState is the scheduler's state, guarded by db.mu.
type compactionState struct {
	running int
	busy    compaction.Busy
	backoff time.Duration // pause before the next attempt after an error
	retryAt time.Time
	lastErr error // of the last background compaction; nil after a success
	// readCandidates are L0 tables that point reads searched in vain
	// often enough to be worth compacting (compaction.PickRead).
	readCandidates []*manifest.FileMetadata
}

// compactionStats are cumulative counters.
type compactionStats struct {
	count        int64
	moves        int64
	bytesRead    int64
	bytesWritten int64
	nanos        int64
	errors       int64
}

// requestReadCompaction asks for the compaction of an L0 table that point
// reads searched in vain too often (see getFromTables).
func (db *DB) requestReadCompaction(f *manifest.FileMetadata) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.mu.compactions.readCandidates = append(db.mu.compactions.readCandidates, f)
	db.maybeScheduleCompactionLocked()
}

// maybeScheduleCompactionLocked starts the compactions the current version
// needs, within the concurrency limit. db.mu is held.
func (db *DB) maybeScheduleCompactionLocked() {
	cs := &db.mu.compactions
	if cs.busy.Files == nil {
		cs.busy.Files = map[base.FileNum]bool{}
	}
	for db.mu.opened && cs.running < db.opts.MaxConcurrentCompactions && !db.mu.closing && !db.stopped.Load() {
		if time.Now().Before(cs.retryAt) {
			return
		}
		v := db.mu.version
		p := compaction.Pick(db.comparer.Compare, v.Version, db.opts.compactionOptions(), cs.busy)
		if p == nil && len(cs.readCandidates) > 0 {
			// Tables compacted away meanwhile need nothing more; one
			// plan merges every L0 table, so it serves every candidate.
			cs.readCandidates = slices.DeleteFunc(cs.readCandidates, func(f *manifest.FileMetadata) bool {
				return !slices.Contains(v.Levels[0], f)
			})
			if len(cs.readCandidates) > 0 {
				p = compaction.PickRead(db.comparer.Compare, v.Version, db.opts.compactionOptions(), cs.busy, cs.readCandidates[0])
				if p != nil {
					cs.readCandidates = cs.readCandidates[:0]
				}
			}
		}
		if p == nil {
			return
		}
		db.markBusyLocked(p, true)
		cs.running++
		v.ref()
		go db.compactInBackground(v, p)
	}
}

func (db *DB) markBusyLocked(p *compaction.Plan, busy bool) {
	cs := &db.mu.compactions
	for _, f := range p.Files() {
		if busy {
			cs.busy.Files[f.FileNum] = true
		} else {
			delete(cs.busy.Files, f.FileNum)
		}
	}
	if p.StartLevel == 0 {
		cs.busy.L0 = busy
	}
	if busy {
		db.reserveOutputLocked(p.OutputLevel, p.OutputRange(db.comparer.Compare))
	} else {
		db.releaseOutputLocked(p.OutputLevel, p.OutputRange(db.comparer.Compare))
	}
}

// reserveOutputLocked marks the key range r of level as being written:
// until releaseOutputLocked, the picker plans no compaction whose output
// in level meets r. Compactions reserve the range they write; Ingest
// reserves the places its tables go to, from the moment it chooses them
// until the version holding them is installed. db.mu is held.
func (db *DB) reserveOutputLocked(level int, r compaction.KeyRange) {
	outs := &db.mu.compactions.busy.Outputs[level]
	*outs = append(*outs, r)
}

// releaseOutputLocked undoes one reserveOutputLocked(level, r). db.mu is
// held.
func (db *DB) releaseOutputLocked(level int, r compaction.KeyRange) {
	outs := &db.mu.compactions.busy.Outputs[level]
	for i, o := range *outs {
		if bytes.Equal(o.Lo, r.Lo) && bytes.Equal(o.Hi, r.Hi) {
			*outs = append((*outs)[:i], (*outs)[i+1:]...)
			return
		}
	}
}

// compactInBackground runs p, picked from v, and schedules what comes next.
func (db *DB) compactInBackground(v *version, p *compaction.Plan) {
	err := db.runCompaction(v, p)
	db.mu.Lock()
	cs := &db.mu.compactions
	cs.running--
	db.markBusyLocked(p, false)
	if err == nil {
		cs.lastErr = nil
	}
	if err != nil && !db.stopped.Load() && !errors.Is(err, context.Canceled) {
		cs.lastErr = err
		db.stats.mu.Lock()
		db.stats.compactions.errors++
		db.stats.mu.Unlock()
		cs.backoff = min(max(2*cs.backoff, 100*time.Millisecond), 10*time.Second)
		cs.retryAt = time.Now().Add(cs.backoff)
		db.logger.Error("dkv: compaction failed; retrying", "dir", db.dir, "plan", p.String(), "err", err, "retry in", cs.backoff)
		if db.events.BackgroundError != nil {
			db.events.BackgroundError(err)
		}
		time.AfterFunc(cs.backoff, func() {
			db.mu.Lock()
			db.maybeScheduleCompactionLocked()
			db.mu.Unlock()
		})
	} else if err == nil {
		cs.backoff = 0
	}
	db.mu.cond.Broadcast() // Close, Compact, writers stalled on L0
	db.maybeScheduleCompactionLocked()
	db.mu.Unlock()
}

// cancelOnClose returns a context derived from parent that Close cancels
// too, and its cancel func, which the caller must call when done.
func (db *DB) cancelOnClose(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-db.closeCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// runCompaction executes p against v (which the caller referenced; it is
// released here) and installs the result.
func (db *DB) runCompaction(v *version, p *compaction.Plan) error {
	defer v.unref()
	ctx, cancel := db.cancelOnClose(context.Background())
	defer cancel()
	_, err := db.runCompactionCtx(ctx, v, p)
	return err
}

// runCompactionCtx runs p against v and installs the result; it returns the
// tables the plan's output level gained.
func (db *DB) runCompactionCtx(ctx context.Context, v *version, p *compaction.Plan) ([]*manifest.FileMetadata, error) {
	info := CompactionInfo{Kind: p.Kind.String(), StartLevel: p.StartLevel, OutputLevel: p.OutputLevel,
		Inputs: fileNums(p.Files()), Move: p.Move, Reason: p.Reason}
	db.logger.Debug("dkv: compaction begins", "plan", p.String())
	if db.events.CompactionBegin != nil {
		db.events.CompactionBegin(info)
	}
	env := compaction.Env{
		FS:             db.fs,
		Dir:            db.dir,
		Cmp:            db.comparer.Compare,
		NewFileNum:     db.versions.newFileNum,
		WriterOptions:  db.tableWriterOptions,
		NewMergingIter: db.newCompactionIter,
		InputRangeDels: db.compactionRangeDels,
		Snapshots:      db.snapshotSeqs(),
		TargetFileSize: db.opts.TargetFileSize,
		TableCreated: func(num base.FileNum, path string, size uint64) {
			if db.events.TableCreated != nil {
				db.events.TableCreated(TableInfo{FileNum: num, Path: path, Size: size, Level: p.OutputLevel})
			}
		},
	}
	res, err := compaction.Run(ctx, v.Version, p, env)
	if err != nil {
		info.Err = err
		if db.events.CompactionEnd != nil {
			db.events.CompactionEnd(info)
		}
		return nil, err
	}
	killpoint.Hit(killpoint.CompactionInstalling)
	sizes := map[base.FileNum]uint64{}
	for _, f := range p.Files() {
		sizes[f.FileNum] = f.Size
	}
	err = db.versions.logAndApply(res.Edit, func(nv *manifest.Version) {
		db.mu.Lock()
		db.installVersionLocked(nv, res.Edit.DeletedFiles, sizes)
		st := &db.stats.compactions // counted before anyone can see the result
		db.stats.mu.Lock()
		st.count++
		if p.Move {
			st.moves++
		}
		st.bytesRead += int64(res.BytesRead)
		st.bytesWritten += int64(res.BytesWritten)
		st.nanos += int64(res.Duration)
		db.stats.mu.Unlock()
		db.publishReadStateLocked()
		db.mu.Unlock()
	})
	if err != nil {
		return nil, db.stopWrites(fmt.Errorf("compaction: %w", err))
	}
	killpoint.Hit(killpoint.CompactionInstalled)
	info.Outputs = fileNums(res.Outputs)
	info.BytesRead, info.BytesWritten, info.Duration = res.BytesRead, res.BytesWritten, res.Duration
	db.logger.Debug("dkv: compaction done", "plan", p.String(), "read", res.BytesRead, "written", res.BytesWritten,
		"dropped", res.Dropped, "duration", res.Duration)
	if db.events.CompactionEnd != nil {
		db.events.CompactionEnd(info)
	}
	outputs := res.Outputs
	if p.Move {
		outputs = p.Inputs[0]
	}
	return outputs, nil
}

func fileNums(files []*manifest.FileMetadata) []base.FileNum {
	out := make([]base.FileNum, len(files))
	for i, f := range files {
		out[i] = f.FileNum
	}
	return out
}

// compactionRangeDels returns the range tombstones of p's input tables.
func (db *DB) compactionRangeDels(p *compaction.Plan) ([]rangedel.Tombstone, error) {
	var ts []rangedel.Tombstone
	for _, f := range p.Files() {
		if !f.HasRangeDels {
			continue
		}
		r, release, err := db.tableCache.get(f)
		if err != nil {
			return nil, err
		}
		ts = append(ts, rangedel.Tombstones(r.RangeDels().Spans())...)
		release()
	}
	return ts, nil
}

// newCompactionIter merges the input tables of p: one iterator per L0
// table, one concatenating iterator for the tables of a deeper level.
func (db *DB) newCompactionIter(p *compaction.Plan) (base.InternalIterator, error) {
	var children []base.InternalIterator
	closeAll := func() {
		for _, c := range children {
			_ = c.Close()
		}
	}
	for i, files := range p.Inputs {
		level := p.StartLevel
		if i == 1 {
			level = p.OutputLevel
		}
		if len(files) == 0 {
			continue
		}
		if level == 0 {
			for _, f := range files {
				it, err := db.newCompactionTableIter(f)
				if err != nil {
					closeAll()
					return nil, err
				}
				children = append(children, it)
			}
			continue
		}
		bounds := make([]iterator.FileBounds, len(files))
		for i, f := range files {
			bounds[i] = iterator.FileBounds{Smallest: f.Smallest, Largest: f.Largest}
		}
		children = append(children, iterator.NewLevel(db.comparer.Compare, bounds, func(i int) (base.InternalIterator, error) {
			return db.newCompactionTableIter(files[i])
		}))
	}
	return iterator.NewMerging(db.comparer.Compare, children...), nil
}

// newCompactionTableIter reads a compaction input without filling the
// block cache.
func (db *DB) newCompactionTableIter(f *manifest.FileMetadata) (base.InternalIterator, error) {
	e, err := db.tableCache.acquire(f)
	if err != nil {
		return nil, err
	}
	return &tableIter{Iterator: e.reader.NewCompactionIter(), cache: db.tableCache, entry: e}, nil
}

// newLevelIter concatenates the sorted, non-overlapping tables of level
// of v, opening one at a time.
func (db *DB) newLevelIter(v *version, level int) base.InternalIterator {
	files := v.Levels[level]
	return iterator.NewLevel(db.comparer.Compare, v.levelBounds(level), func(i int) (base.InternalIterator, error) {
		return db.newTableIter(files[i])
	})
}

// tableIter is a table's iterator that gives the table back to the table
// cache when closed.
type tableIter struct {
	*sstable.Iterator
	cache *tableCache
	entry *tableEntry
}

func (t *tableIter) Close() error {
	err := t.Iterator.Close()
	if t.entry != nil {
		t.cache.release(t.entry)
		t.entry = nil
	}
	return err
}

func (db *DB) newTableIter(f *manifest.FileMetadata) (base.InternalIterator, error) {
	e, err := db.tableCache.acquire(f)
	if err != nil {
		return nil, err
	}
	return &tableIter{Iterator: e.reader.NewIter(), cache: db.tableCache, entry: e}, nil
}

// Compact compacts every table holding keys in [start, end) (nil: unbounded)
// down to the bottom level, rewriting it there too: overwritten versions and
// deleted keys that no open snapshot can see are dropped, and their space is
// reclaimed before Compact returns — unless an open iterator still reads the
// replaced tables (they go when it closes). Levels that hold nothing in the
// range are skipped. It flushes the memtables first. It returns ctx's error
// when ctx is canceled, and ErrClosed when the DB closes; the compaction
// under way then stops and leaves nothing behind. A Compact runs beside the
// background compactions (MaxConcurrentCompactions does not count it) and
// waits for those holding tables it needs. A read-only DB returns
// ErrReadOnly.
func (db *DB) Compact(ctx context.Context, start, end []byte) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if db.opts.ReadOnly {
		return ErrReadOnly
	}
	if len(start) == 0 {
		start = nil
	}
	if len(end) == 0 {
		end = nil
	}
	if start != nil && end != nil {
		switch c := db.comparer.Compare(start, end); {
		case c > 0:
			return fmt.Errorf("%w: Compact start %q is above end %q", ErrInvalidArgument, start, end)
		case c == 0:
			return nil // an empty range
		}
	}
	if err := db.Flush(); err != nil {
		return err
	}
	// Close cancels the compaction; a cancel wakes the waits below.
	ctx, cancel := db.cancelOnClose(ctx)
	defer cancel()
	stopClose := context.AfterFunc(ctx, func() {
		db.mu.Lock()
		db.mu.cond.Broadcast()
		db.mu.Unlock()
	})
	defer stopClose()

	defer db.waitDeletions() // the space is reclaimed when Compact returns
	db.mu.Lock()
	defer db.mu.Unlock()
	bottom := manifest.NumLevels - 1
	written := map[base.FileNum]bool{} // bottom-level tables this call wrote
	for level := range manifest.NumLevels {
		if level == bottom && db.onlyWrittenLocked(written, start, end) {
			break // merging into the bottom already dropped all it could
		}
		for {
			// Close marks the DB closed before it cancels ctx: a canceled
			// ctx with the DB closed is Close's doing. (In this order: the
			// DB may close between the two loads.)
			if err := ctx.Err(); err != nil {
				if db.closed.Load() {
					return ErrClosed
				}
				return err
			}
			if db.closed.Load() {
				return ErrClosed
			}
			if err := db.stopErrLocked(); err != nil {
				return err
			}
			v := db.mu.version
			p, ok := compaction.Manual(db.comparer.Compare, v.Version, db.mu.compactions.busy, level, start, end)
			if !ok {
				db.mu.cond.Wait() // a background compaction holds what this one needs
				continue
			}
			if p == nil {
				break
			}
			db.markBusyLocked(p, true)
			db.mu.compactions.running++
			v.ref()
			db.mu.Unlock()
			outputs, err := db.runCompactionCtx(ctx, v, p)
			v.unref()
			db.mu.Lock()
			db.mu.compactions.running--
			db.markBusyLocked(p, false)
			db.mu.cond.Broadcast()
			db.maybeScheduleCompactionLocked()
			if err != nil {
				if ctx.Err() != nil && db.closed.Load() {
					return ErrClosed
				}
				return err
			}
			if p.OutputLevel == bottom {
				for _, f := range outputs {
					written[f.FileNum] = true
				}
			}
			break // the level's part of the range has moved down
		}
	}
	return nil
}

// onlyWrittenLocked reports whether every bottom-level table overlapping
// [start, end) is one this Compact call wrote (and so already holds only
// what readers can see). db.mu is held.
func (db *DB) onlyWrittenLocked(written map[base.FileNum]bool, start, end []byte) bool {
	if len(written) == 0 {
		return false
	}
	v := db.mu.version
	for _, f := range compaction.OverlappingHalfOpen(db.comparer.Compare, v.Levels[manifest.NumLevels-1], start, end) {
		if !written[f.FileNum] {
			return false
		}
	}
	return true
}

// stopErrLocked is stopErr for callers holding db.mu.
func (db *DB) stopErrLocked() error {
	if !db.stopped.Load() {
		return nil
	}
	db.mu.Unlock()
	err := db.stopErr()
	db.mu.Lock()
	return err
}
