package raftlog

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/internal/invariants"
)

// DefaultCacheBytes is the default budget of a Storage's entry cache.
const DefaultCacheBytes = 4 << 20

// Options tune a Storage. The zero value is the default.
type Options struct {
	// CacheBytes bounds the newest entries a Storage keeps in memory, by
	// their encoded size plus a small per-entry overhead. Default
	// DefaultCacheBytes; negative: no cache (every read goes to the
	// engine).
	CacheBytes int64
}

// Metrics count what a Storage served from where.
type Metrics struct {
	CacheEntries int   // entries in the cache now
	CacheBytes   int64 // what they count against Options.CacheBytes
	CacheHits    int64 // entries (Entries) and terms (Term) served from the cache
	EngineReads  int64 // entries (Entries) and terms (Term) read from the engine
}

// Storage is raft.Storage for one replica over a node's shared engine. See
// the package documentation for the model and the concurrency rules.
type Storage struct {
	r       Reader
	rangeID uint64
	logLo   []byte // keys.RaftLogPrefix
	logHi   []byte // the key just past every log key

	mu sync.Mutex
	// What the Storage reports: the state of the batches Applied so far.
	hs      *raftpb.HardState // never nil, never mutated (replaced whole)
	trunc   logPosition       // first index − 1 and its term
	last    uint64            // the last index; trunc.index when the log is empty
	applied appliedPosition
	cache   cache
	// What the batches holding the outstanding Pendings will make it: the
	// base Append and Truncate check their arguments against.
	staged  stagedLog
	pending []*pendingOp // issued, not yet Applied, oldest first
	hits    int64
	reads   int64
}

type logPosition struct{ index, term uint64 }

type appliedPosition struct {
	index, term uint64
	cs          *raftpb.ConfState // never nil, never mutated (replaced whole)
}

type stagedLog struct {
	last  uint64
	trunc logPosition
}

var _ raft.Storage = (*Storage)(nil)

// Open loads a replica's Raft state from db: its HardState, truncated
// state, log bounds and applied state. A range with none of these keys is
// an uninitialized replica: empty HardState and ConfState, first index 1,
// last index 0. A state that contradicts itself (a log with a hole at its
// ends, a commit index outside [truncated index, last index], an applied
// index below the truncated index or past the commit index) is a
// *CorruptionError: raft would panic on it, or lose entries.
func Open(db *dkv.DB, rangeID uint64) (*Storage, error) {
	return OpenWith(db, rangeID, Options{})
}

// OpenWith is Open with options.
func OpenWith(db *dkv.DB, rangeID uint64, o Options) (*Storage, error) {
	if db == nil {
		return nil, errors.New("raftlog: Open: nil DB")
	}
	s := &Storage{r: db, rangeID: rangeID, logLo: keys.RaftLogPrefix(rangeID)}
	s.cache.pin = math.MaxUint64
	s.logHi = append([]byte(nil), s.logLo...)
	s.logHi[len(s.logHi)-1]++
	switch {
	case o.CacheBytes == 0:
		s.cache.max = DefaultCacheBytes
	case o.CacheBytes > 0:
		s.cache.max = o.CacheBytes
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Storage) load() error {
	hs, err := LoadHardState(s.r, s.rangeID)
	if err != nil {
		return err
	}
	t, err := LoadTruncatedState(s.r, s.rangeID)
	if err != nil {
		return err
	}
	as, cs, err := loadApplied(s.r, s.rangeID)
	if err != nil {
		return err
	}
	s.hs = hs
	s.trunc = logPosition{t.GetIndex(), t.GetTerm()}
	s.applied = appliedPosition{index: as.GetIndex(), term: as.GetTerm(), cs: cs}
	if s.applied.cs == nil {
		s.applied.cs = &raftpb.ConfState{}
	}
	if s.last, err = s.loadLast(); err != nil {
		return err
	}
	s.staged = stagedLog{last: s.last, trunc: s.trunc}

	hsKey := keys.RaftHardState(s.rangeID)
	if c := hs.GetCommit(); c < s.trunc.index || c > s.last {
		return corruptf(hsKey, nil, "commit index %d outside the log's [%d, %d]", c, s.trunc.index, s.last)
	}
	asKey := keys.RangeAppliedState(s.rangeID)
	if s.applied.index < s.trunc.index {
		return corruptf(asKey, nil, "applied index %d below the truncated index %d", s.applied.index, s.trunc.index)
	}
	if s.applied.index > hs.GetCommit() {
		return corruptf(asKey, nil, "applied index %d past the commit index %d", s.applied.index, hs.GetCommit())
	}
	return nil
}

// loadLast finds the last index: the last log key after the truncated
// index, or the truncated index when there is none. It checks that the
// log's first and last entries decode as what their keys say and that the
// log starts right after the truncated index; under the invariants build
// tag it checks every entry in between.
func (s *Storage) loadLast() (uint64, error) {
	it, err := s.r.NewIter(&dkv.IterOptions{LowerBound: keys.RaftLog(s.rangeID, s.trunc.index+1), UpperBound: s.logHi})
	if err != nil {
		return 0, fmt.Errorf("raftlog: reading the log of range %d: %w", s.rangeID, err)
	}
	defer it.Close()
	if !it.First() {
		if err := it.Error(); err != nil {
			return 0, fmt.Errorf("raftlog: reading the log of range %d: %w", s.rangeID, err)
		}
		return s.trunc.index, nil
	}
	first, err := s.decodeAt(it.Key(), it.Value())
	if err != nil {
		return 0, err
	}
	if first.GetIndex() != s.trunc.index+1 {
		return 0, corruptf(it.Key(), nil, "the log starts at %d, not after the truncated index %d", first.GetIndex(), s.trunc.index)
	}
	if invariants.Enabled {
		want := first.GetIndex()
		for ok := true; ok; ok = it.Next() {
			e, err := s.decodeAt(it.Key(), it.Value())
			if err != nil {
				return 0, err
			}
			if e.GetIndex() != want {
				return 0, corruptf(it.Key(), nil, "log entry %d missing", want)
			}
			want++
		}
		if err := it.Error(); err != nil {
			return 0, fmt.Errorf("raftlog: reading the log of range %d: %w", s.rangeID, err)
		}
	}
	if !it.Last() {
		return 0, fmt.Errorf("raftlog: reading the log of range %d: %w", s.rangeID, it.Error())
	}
	last, err := s.decodeAt(it.Key(), it.Value())
	if err != nil {
		return 0, err
	}
	return last.GetIndex(), nil
}

// decodeAt decodes an entry read from the engine at key, checking that the
// key is one of this range's log keys.
func (s *Storage) decodeAt(key, value []byte) (*raftpb.Entry, error) {
	rangeID, index, err := keys.DecodeRaftLog(key)
	if err != nil {
		return nil, corruptf(key, err, "not a log entry's key")
	}
	if rangeID != s.rangeID {
		return nil, corruptf(key, nil, "log key of range %d read for range %d", rangeID, s.rangeID)
	}
	return decodeEntryAt(key, index, value)
}

// InitialState returns the HardState and the ConfState of the applied
// state (both empty for an uninitialized replica). Implements
// raft.Storage. The caller owns the returned messages.
func (s *Storage) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.CloneOf(s.hs), raftpb.EnsureConfState(proto.CloneOf(s.applied.cs)), nil
}

// Entries returns the entries [lo, hi), at least one and then as many as
// fit maxSize bytes (proto.Size of each), as raft.Storage specifies:
// raft.ErrCompacted when lo is at or below the truncated index,
// raft.ErrUnavailable when hi is past LastIndex+1. An entry missing from
// the engine inside the log's bounds, or one that does not decode, is a
// *CorruptionError. The caller owns the returned slice; its entries are
// shared and must not be mutated. Implements raft.Storage.
func (s *Storage) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	s.mu.Lock()
	if lo <= s.trunc.index {
		s.mu.Unlock()
		return nil, raft.ErrCompacted
	}
	if hi > s.last+1 {
		s.mu.Unlock()
		return nil, raft.ErrUnavailable
	}
	if lo >= hi {
		s.mu.Unlock()
		if lo > hi {
			return nil, fmt.Errorf("raftlog: Entries(%d, %d): lo past hi", lo, hi)
		}
		return nil, nil
	}
	cacheLo := max(lo, s.cache.first(s.last))
	var tail []cachedEntry
	if cacheLo < hi {
		// Copied: the cache may change once the mutex is released.
		tail = append(tail, s.cache.slice(cacheLo, hi)...)
	}
	s.mu.Unlock()

	out := make([]*raftpb.Entry, 0, min(hi-lo, 1024))
	var size uint64
	if lo < cacheLo {
		var full bool
		var err error
		var read int64
		out, size, full, read, err = s.readEntries(out, lo, min(hi, cacheLo), maxSize)
		s.mu.Lock()
		s.reads += read
		s.mu.Unlock()
		if m, ok := err.(*missingEntry); ok {
			err = s.missing(m.index)
		}
		if err != nil || full {
			return out, err
		}
	}
	n := 0
	for _, ce := range tail {
		if len(out) > 0 && size+ce.size > maxSize {
			break
		}
		out = append(out, ce.e)
		size += ce.size
		n++
	}
	if n > 0 {
		s.mu.Lock()
		s.hits += int64(n)
		s.mu.Unlock()
	}
	return out, nil
}

// missingEntry is readEntries' report of an entry the engine lacks; the
// caller knows whether that is corruption (missing) or a race.
type missingEntry struct{ index uint64 }

func (m *missingEntry) Error() string { return fmt.Sprintf("raftlog: entry %d missing", m.index) }

// readEntries appends the engine's entries [lo, hi) to out while they fit
// maxSize (and at least one), returning the new total size, whether
// maxSize stopped it and how many entries it read. An entry the engine
// does not hold is a *missingEntry. It does not use the mutex.
func (s *Storage) readEntries(out []*raftpb.Entry, lo, hi, maxSize uint64) (_ []*raftpb.Entry, size uint64, full bool, read int64, err error) {
	it, err := s.r.NewIter(&dkv.IterOptions{LowerBound: keys.RaftLog(s.rangeID, lo), UpperBound: keys.RaftLog(s.rangeID, hi)})
	if err != nil {
		return out, 0, false, 0, fmt.Errorf("raftlog: reading entries [%d, %d) of range %d: %w", lo, hi, s.rangeID, err)
	}
	defer it.Close()
	want := lo
	for ok := it.First(); ok; ok = it.Next() {
		e, err := s.decodeAt(it.Key(), it.Value())
		if err != nil {
			return out, size, false, read, err
		}
		if e.GetIndex() != want {
			return out, size, false, read, &missingEntry{want}
		}
		read++
		es := uint64(proto.Size(e))
		if len(out) > 0 && size+es > maxSize {
			return out, size, true, read, nil
		}
		out = append(out, e)
		size += es
		want++
	}
	if err := it.Error(); err != nil {
		return out, size, false, read, fmt.Errorf("raftlog: reading entries [%d, %d) of range %d: %w", lo, hi, s.rangeID, err)
	}
	if want < hi {
		return out, size, false, read, &missingEntry{want}
	}
	return out, size, false, read, nil
}

// missing explains an entry the engine does not hold although the state
// read before the engine said it should. Raft's goroutine, which writes
// the batches and calls Applied, never sees this unless the engine lost
// the entry (corruption). Another goroutine can: a truncation or a
// shorter overwrite may have been written and Applied meanwhile, which
// make the entry compacted or unavailable.
func (s *Storage) missing(i uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i <= s.trunc.index || i <= s.staged.trunc.index {
		return raft.ErrCompacted
	}
	if i > s.last || i > s.staged.last {
		return raft.ErrUnavailable
	}
	return corruptf(keys.RaftLog(s.rangeID, i), nil, "log entry %d missing from the log [%d, %d]", i, s.trunc.index+1, s.last)
}

// Term returns the term of entry i, which must be in [FirstIndex−1,
// LastIndex]: raft.ErrCompacted below, raft.ErrUnavailable above. The
// term of FirstIndex−1 is the truncated state's. Implements raft.Storage.
func (s *Storage) Term(i uint64) (uint64, error) {
	s.mu.Lock()
	switch {
	case i < s.trunc.index:
		s.mu.Unlock()
		return 0, raft.ErrCompacted
	case i == s.trunc.index:
		t := s.trunc.term
		s.mu.Unlock()
		return t, nil
	case i > s.last:
		s.mu.Unlock()
		return 0, raft.ErrUnavailable
	}
	if ce, ok := s.cache.get(i); ok {
		s.hits++
		s.mu.Unlock()
		return ce.e.GetTerm(), nil
	}
	s.mu.Unlock()
	e, err := s.readEntry(i)
	if err != nil {
		return 0, err
	}
	return e.GetTerm(), nil
}

// readEntry reads entry i from the engine. The mutex must not be held.
func (s *Storage) readEntry(i uint64) (*raftpb.Entry, error) {
	key := keys.RaftLog(s.rangeID, i)
	v, err := get(s.r, key)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	if v == nil {
		return nil, s.missing(i)
	}
	return decodeEntryAt(key, i, v)
}

// LastIndex returns the index of the last entry; the truncated index when
// the log is empty. Implements raft.Storage.
func (s *Storage) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, nil
}

// FirstIndex returns the truncated index + 1: the first entry Entries may
// return, if the log holds any. Implements raft.Storage.
func (s *Storage) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trunc.index + 1, nil
}

// Snapshot returns the metadata of a snapshot at the applied index (with
// its term and ConfState) and no data: the transport streams the data
// itself, from an engine snapshot. raft.ErrSnapshotTemporarilyUnavailable
// when nothing is applied yet. The caller owns the returned message.
// Implements raft.Storage.
func (s *Storage) Snapshot() (*raftpb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.applied.index == 0 {
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	return &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
		Index:     new(s.applied.index),
		Term:      new(s.applied.term),
		ConfState: raftpb.EnsureConfState(proto.CloneOf(s.applied.cs)),
	}}, nil
}

// HardState returns the HardState the Storage reports (empty, never nil,
// when none was written). The caller owns it.
func (s *Storage) HardState() *raftpb.HardState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.CloneOf(s.hs)
}

// TruncatedState returns the index and term of the entry before the first
// one. The caller owns it.
func (s *Storage) TruncatedState() *kvpb.TruncatedState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &kvpb.TruncatedState{Index: s.trunc.index, Term: s.trunc.term}
}

// AppliedIndex returns the applied index and term the Storage holds (from
// Open, SetApplied or ApplySnapshot).
func (s *Storage) AppliedIndex() (index, term uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied.index, s.applied.term
}

// RangeID returns the range whose log this is.
func (s *Storage) RangeID() uint64 { return s.rangeID }

// Metrics returns the cache's size and what was read from where.
func (s *Storage) Metrics() Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Metrics{CacheEntries: s.cache.len(), CacheBytes: s.cache.bytes, CacheHits: s.hits, EngineReads: s.reads}
}
