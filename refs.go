package dkv

import (
	"sync"
	"sync/atomic"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/iterator"
	"github.com/distributedkv/dkv/internal/killpoint"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/memtable"
)

// Reference counting: which tables may be deleted.
//
// A compaction replaces tables, but readers that started before it may
// still be reading the old ones. So every Version a reader can reach is
// reference-counted: the DB holds the current one; each readState holds
// its version; a Get or an Iterator holds its readState. A table that a
// compaction removed (a zombie) is deleted once no live version lists it.
// Snapshots hold no version: they are sequence numbers, and compactions keep
// the versions they can see.

// version is a manifest.Version that readers pin.
type version struct {
	*manifest.Version
	refs atomic.Int32
	db   *DB

	// bounds are the tables' bounds per level, as the level iterators of
	// every reader of the version search them, made once.
	boundsOnce sync.Once
	bounds     [manifest.NumLevels][]iterator.FileBounds
}

// levelBounds returns the bounds of the tables of level, in order.
func (v *version) levelBounds(level int) []iterator.FileBounds {
	v.boundsOnce.Do(func() {
		for l, files := range v.Levels {
			v.bounds[l] = make([]iterator.FileBounds, len(files))
			for i, f := range files {
				v.bounds[l][i] = iterator.FileBounds{Smallest: f.Smallest, Largest: f.Largest}
			}
		}
	})
	return v.bounds[level]
}

func (v *version) ref() { v.refs.Add(1) }

func (v *version) unref() {
	if v.refs.Add(-1) == 0 {
		v.db.versionUnused(v)
	}
}

// readState is an immutable view for reads: the memtables, newest first,
// and the version of the tables. The DB holds one reference to the current
// readState; each read holds one while it runs. A readState holds a
// reference to each of its memtables (their memory is manual, see
// memtable.MemTable.Unref) and to its version, and drops them when its own
// last reference goes.
type readState struct {
	mem     *memtable.MemTable   // the mutable memtable
	imm     []*memtable.MemTable // full memtables, newest first
	version *version
	refs    atomic.Int32
}

// tryRef takes a reference unless the readState is already released.
func (rs *readState) tryRef() bool {
	for {
		n := rs.refs.Load()
		if n == 0 {
			return false
		}
		if rs.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (rs *readState) unref() {
	if rs.refs.Add(-1) == 0 {
		rs.version.unref()
		rs.mem.Unref()
		for _, m := range rs.imm {
			m.Unref()
		}
	}
}

// loadReadState returns the current readState with a reference the caller
// releases with unref, or nil once the DB is closed (Close drops the
// last one, freeing the memtables' memory): the caller then returns
// ErrClosed.
func (db *DB) loadReadState() *readState {
	for {
		rs := db.readState.Load()
		if rs == nil {
			return nil
		}
		if rs.tryRef() {
			return rs
		}
	}
}

// releaseMemory drops the DB's own references to its read state and its
// memtables, at Close or when Open fails: their memory is freed once the
// readers still holding them (iterators left open) are done.
func (db *DB) releaseMemory() {
	if rs := db.readState.Swap(nil); rs != nil {
		rs.unref()
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.commit.mem != nil {
		db.commit.mem.Unref()
	}
	for _, f := range db.mu.imm {
		f.mem.Unref()
	}
	db.commit.mem, db.mu.mem, db.mu.imm = nil, nil, nil
}

// obsolete tracks live versions and the tables waiting for deletion.
type obsolete struct {
	sync.Mutex
	cond     sync.Cond // signalled when a batch of deletions finishes
	live     map[*version]struct{}
	zombies  map[base.FileNum]uint64 // removed from the current version; size
	deleting int                     // batches of deletions under way
	// closed is set by Close: the zombies then stay for the next Open to
	// remove, for the directory is no longer this DB's to change.
	closed bool
}

// waitDeletions blocks until no deletion is under way.
func (db *DB) waitDeletions() {
	db.obs.Lock()
	for db.obs.deleting > 0 {
		db.obs.cond.Wait()
	}
	db.obs.Unlock()
}

// newVersion wraps mv, holding one reference for the caller.
func (db *DB) newVersion(mv *manifest.Version) *version {
	v := &version{Version: mv, db: db}
	v.refs.Store(1)
	db.obs.Lock()
	db.obs.live[v] = struct{}{}
	db.obs.Unlock()
	return v
}

// installVersionLocked makes mv the current version; removed lists tables
// an edit took out of the version (they become zombies unless mv still
// lists them, as after a move). db.mu is held; the caller publishes a
// readState.
func (db *DB) installVersionLocked(mv *manifest.Version, removed []manifest.DeletedFile, sizes map[base.FileNum]uint64) {
	old := db.mu.version
	db.mu.version = db.newVersion(mv)
	if len(removed) > 0 {
		stillLive := map[base.FileNum]bool{}
		for _, f := range mv.Files() {
			stillLive[f.FileNum] = true
		}
		db.obs.Lock()
		for _, d := range removed {
			if !stillLive[d.FileNum] {
				db.obs.zombies[d.FileNum] = sizes[d.FileNum]
			}
		}
		db.obs.Unlock()
	}
	if old != nil {
		old.unref()
	}
}

// versionUnused drops v from the live set and deletes the zombies no live
// version lists any more.
func (db *DB) versionUnused(v *version) {
	db.obs.Lock()
	delete(db.obs.live, v)
	var dead []base.FileNum
	if len(db.obs.zombies) > 0 && !db.obs.closed {
		inUse := map[base.FileNum]bool{}
		for lv := range db.obs.live {
			for _, f := range lv.Files() {
				inUse[f.FileNum] = true
			}
		}
		for num := range db.obs.zombies {
			if !inUse[num] {
				dead = append(dead, num)
				delete(db.obs.zombies, num)
			}
		}
	}
	if len(dead) > 0 {
		db.obs.deleting++
	}
	db.obs.Unlock()
	if len(dead) > 0 {
		go db.deleteTables(dead)
	}
}

// deleteTables removes tables no reader can reach.
func (db *DB) deleteTables(nums []base.FileNum) {
	defer func() {
		db.obs.Lock()
		db.obs.deleting--
		db.obs.cond.Broadcast()
		db.obs.Unlock()
	}()
	for _, num := range nums {
		db.tableCache.evict(num)
		path := db.fs.PathJoin(db.dir, base.MakeFilename(base.FileTypeTable, num))
		if err := db.fs.Remove(path); err != nil {
			db.logger.Warn("dkv: remove obsolete table", "table", path, "err", err)
			continue
		}
		killpoint.Hit(killpoint.TableRemoved)
		db.logger.Debug("dkv: removed obsolete table", "table", path)
		if db.events.TableDeleted != nil {
			db.events.TableDeleted(TableInfo{FileNum: num, Path: path})
		}
	}
}
