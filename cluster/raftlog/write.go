package raftlog

import (
	"fmt"
	"math"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/internal/invariants"
)

// pointDeleteLimit is the longest overwritten suffix Append deletes key by
// key; a longer one is deleted with one range deletion.
const pointDeleteLimit = 16

// Pending is a change to the log written into a batch and not yet
// reported: Applied(p), once the batch is written, makes the Storage report
// it. The zero Pending changes nothing (Applied ignores it).
type Pending struct {
	op *pendingOp
}

// IsZero says whether p changes nothing.
func (p Pending) IsZero() bool { return p.op == nil }

type pendingKind uint8

const (
	appendOp pendingKind = iota + 1
	truncateOp
)

type pendingOp struct {
	kind  pendingKind
	ents  []*raftpb.Entry   // appendOp: the new entries, after the truncated ones were dropped
	hs    *raftpb.HardState // appendOp: the new HardState, or nil
	trunc logPosition       // truncateOp
}

// Append writes into b the entries ents (contiguous, starting at most one
// past the last index, as raft's Ready gives them) and hs, unless
// raft.IsEmptyHardState(hs). An entry at index i replaces the stored one;
// stored entries past the last of ents are deleted (raft overwrites a
// conflicting suffix); entries at or below the truncated index are
// dropped, as raft.MemoryStorage does. The base is the log as the batches
// holding the outstanding Pendings will leave it.
//
// Nothing the Storage reports changes until Applied(p) is called after b
// was written. The Storage keeps the entries (for its cache) and they
// must not be mutated, which raft's contract for Ready.Entries already
// requires. On error nothing was recorded, but b may hold some of the
// writes (a failed Put marks the batch, which Write then refuses).
func (s *Storage) Append(b *dkv.Batch, hs *raftpb.HardState, ents []*raftpb.Entry) (Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.staged
	for i, e := range ents {
		if e.GetIndex() != ents[0].GetIndex()+uint64(i) {
			return Pending{}, fmt.Errorf("raftlog: Append: entry %d has index %d, after %d", i, e.GetIndex(), ents[0].GetIndex())
		}
		if e.GetTerm() == 0 {
			return Pending{}, fmt.Errorf("raftlog: Append: entry %d has term 0", e.GetIndex())
		}
	}
	if len(ents) > 0 {
		if first := ents[0].GetIndex(); first == 0 || first > st.last+1 {
			return Pending{}, fmt.Errorf("raftlog: Append: entries start at %d, leaving a gap after the last index %d", first, st.last)
		}
		if first := ents[0].GetIndex(); first <= st.trunc.index {
			skip := st.trunc.index + 1 - first
			if skip >= uint64(len(ents)) {
				ents = nil
			} else {
				ents = ents[skip:]
			}
		}
	}
	last := st.last
	if len(ents) > 0 {
		last = ents[len(ents)-1].GetIndex()
	}
	withHS := !raft.IsEmptyHardState(hs)
	if withHS && hs.GetCommit() > last {
		return Pending{}, fmt.Errorf("raftlog: Append: commit index %d past the last index %d", hs.GetCommit(), last)
	}
	if len(ents) == 0 && !withHS {
		return Pending{}, nil
	}

	if len(ents) > 0 {
		if err := s.holdOverwritten(ents[0].GetIndex()); err != nil {
			return Pending{}, err
		}
	}
	for _, e := range ents {
		v, err := EncodeEntry(e)
		if err != nil {
			return Pending{}, err
		}
		if err := put(b, keys.RaftLog(s.rangeID, e.GetIndex()), v); err != nil {
			return Pending{}, err
		}
	}
	if len(ents) > 0 && last < st.last {
		if err := s.deleteEntries(b, last+1, st.last+1); err != nil {
			return Pending{}, err
		}
	}
	op := &pendingOp{kind: appendOp, ents: ents}
	if withHS {
		v, err := EncodeHardState(hs)
		if err != nil {
			return Pending{}, err
		}
		if err := put(b, keys.RaftHardState(s.rangeID), v); err != nil {
			return Pending{}, err
		}
		op.hs = proto.CloneOf(hs)
	}
	if len(ents) > 0 {
		s.staged.last = last
		s.cache.pin = min(s.cache.pin, ents[0].GetIndex())
	}
	s.pending = append(s.pending, op)
	return Pending{op: op}, nil
}

// holdOverwritten makes sure the cache holds every entry the Storage
// reports at index lo and above, which an Append from lo overwrites or
// deletes in the engine: until its Pending is Applied, the cache is where
// reads find them. Append pins them. They are read from the engine, which
// no outstanding Pending has changed below the cache's first index (an
// earlier overwrite held its own entries; a truncation defers its
// deletions). The mutex is held.
func (s *Storage) holdOverwritten(lo uint64) error {
	cf := s.cache.first(s.last)
	if lo >= cf {
		return nil
	}
	held, _, _, read, err := s.readEntries(nil, lo, cf, math.MaxUint64)
	s.reads += read
	if m, ok := err.(*missingEntry); ok {
		return corruptf(keys.RaftLog(s.rangeID, m.index), nil, "log entry %d missing from the log [%d, %d]", m.index, s.trunc.index+1, s.last)
	}
	if err != nil {
		return err
	}
	s.cache.prepend(held, s.last)
	return nil
}

// deleteEntries writes the deletion of the entries [lo, hi) into b.
func (s *Storage) deleteEntries(b *dkv.Batch, lo, hi uint64) error {
	if hi-lo > pointDeleteLimit {
		if err := b.DeleteRange(keys.RaftLog(s.rangeID, lo), keys.RaftLog(s.rangeID, hi)); err != nil {
			return fmt.Errorf("raftlog: deleting entries [%d, %d): %w", lo, hi, err)
		}
		return nil
	}
	for i := lo; i < hi; i++ {
		if err := b.Delete(keys.RaftLog(s.rangeID, i)); err != nil {
			return fmt.Errorf("raftlog: deleting entry %d: %w", i, err)
		}
	}
	return nil
}

// Truncate writes into b the TruncatedState {index, Term(index)}: the
// log will start at index+1. index must be above the truncated index and
// at most the last index, both as the outstanding Pendings will leave
// them; the term is read from them too (or the cache, or the engine).
// Never truncate past the durable applied index (docs/cluster.md): Open
// refuses a replica whose applied index is below its truncated index.
// Nothing the Storage reports changes until Applied(p) is called after b
// was written.
//
// The entries it gives up stay in the engine until the next Truncate (or
// a snapshot's ingest): b deletes, with one range deletion, every entry up
// to the truncated index the Storage reports now. So the entries the
// Storage reports are in the engine until the moment it stops reporting
// them, and the engine holds at most one truncation's worth of entries
// more than the log. Open ignores them.
func (s *Storage) Truncate(b *dkv.Batch, index uint64) (Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.staged
	if index <= st.trunc.index {
		return Pending{}, fmt.Errorf("raftlog: Truncate(%d): at or below the truncated index %d", index, st.trunc.index)
	}
	if index > st.last {
		return Pending{}, fmt.Errorf("raftlog: Truncate(%d): past the last index %d", index, st.last)
	}
	term, err := s.stagedTerm(index)
	if err != nil {
		return Pending{}, err
	}
	tv, err := EncodeTruncatedState(&kvpb.TruncatedState{Index: index, Term: term})
	if err != nil {
		return Pending{}, err
	}
	// From the log's first key: one range deletion removes whatever the
	// log held at or below the truncated index reported now.
	if err := b.DeleteRange(s.logLo, keys.RaftLog(s.rangeID, s.trunc.index+1)); err != nil {
		return Pending{}, fmt.Errorf("raftlog: Truncate(%d): %w", index, err)
	}
	if err := put(b, keys.RaftTruncatedState(s.rangeID), tv); err != nil {
		return Pending{}, err
	}
	op := &pendingOp{kind: truncateOp, trunc: logPosition{index, term}}
	s.staged.trunc = op.trunc
	s.pending = append(s.pending, op)
	return Pending{op: op}, nil
}

// stagedTerm returns the term of entry i, in (staged truncated index,
// staged last index], as the outstanding Pendings will leave the log. The
// mutex is held; it may read the engine.
func (s *Storage) stagedTerm(i uint64) (uint64, error) {
	for j := len(s.pending) - 1; j >= 0; j-- {
		op := s.pending[j]
		if op.kind != appendOp || len(op.ents) == 0 || op.ents[0].GetIndex() > i {
			continue
		}
		if k := i - op.ents[0].GetIndex(); k < uint64(len(op.ents)) {
			return op.ents[k].GetTerm(), nil
		}
		// The append deleted i and no later one wrote it again: i is past
		// the staged last index, which the caller checked.
		panic(fmt.Sprintf("raftlog: entry %d is past a pending append's last %d", i, op.ents[len(op.ents)-1].GetIndex()))
	}
	if i == s.trunc.index {
		return s.trunc.term, nil
	}
	if ce, ok := s.cache.get(i); ok {
		return ce.e.GetTerm(), nil
	}
	key := keys.RaftLog(s.rangeID, i)
	v, err := get(s.r, key)
	if err != nil {
		return 0, err
	}
	if v == nil {
		return 0, corruptf(key, nil, "log entry %d missing from the log [%d, %d]", i, s.trunc.index+1, s.last)
	}
	e, err := decodeEntryAt(key, i, v)
	if err != nil {
		return 0, err
	}
	return e.GetTerm(), nil
}

// Applied reports that the batch holding p was written: from now on the
// Storage reports p's entries, HardState or truncation. Pendings must be
// Applied in the order they were issued, each once; breaking that is a
// programmer's error and panics. If a batch holding Pendings is not
// written (its write failed), the Storage must not be written through
// again: Open a new one from the engine.
func (s *Storage) Applied(p Pending) {
	if p.op == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 || s.pending[0] != p.op {
		panic("raftlog: Applied out of order, twice, or after ApplySnapshot")
	}
	s.pending[0] = nil
	s.pending = s.pending[1:]
	if len(s.pending) == 0 {
		s.pending = nil
	}
	switch op := p.op; op.kind {
	case appendOp:
		if len(op.ents) > 0 {
			s.last = op.ents[len(op.ents)-1].GetIndex()
			s.cache.add(op.ents)
		}
		if op.hs != nil {
			s.hs = op.hs
		}
	case truncateOp:
		s.trunc = op.trunc
		s.cache.truncateFront(op.trunc.index)
	}
	s.cache.pin = math.MaxUint64
	for _, op := range s.pending {
		if op.kind == appendOp && len(op.ents) > 0 {
			s.cache.pin = min(s.cache.pin, op.ents[0].GetIndex())
		}
	}
	s.cache.evict()
	s.checkLocked()
}

// SetApplied records the replica's applied index, its term and (unless cs
// is nil) its ConfState: what Snapshot and InitialState report. It does
// not write anything: the replica writes its applied state in its apply
// batch (WriteAppliedState).
func (s *Storage) SetApplied(index, term uint64, cs *raftpb.ConfState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if invariants.Enabled && index < s.applied.index {
		panic(fmt.Sprintf("raftlog: SetApplied(%d) below the applied index %d", index, s.applied.index))
	}
	s.applied.index, s.applied.term = index, term
	if cs != nil {
		s.applied.cs = proto.CloneOf(cs)
	}
}

// ApplySnapshot reports a snapshot the replica has ingested (with its
// HardState, truncated state and applied state, which the ingest wrote):
// the log is empty after meta.Index (first index meta.Index+1, last index
// meta.Index, truncated state {meta.Index, meta.Term}), the applied state
// is meta's, the HardState is hs. Cached entries are dropped. No Pending
// may be outstanding (it was based on the log the snapshot replaced): a
// programmer's error that panics. Append the Ready's entries after it.
func (s *Storage) ApplySnapshot(meta *raftpb.SnapshotMetadata, hs *raftpb.HardState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) > 0 {
		panic("raftlog: ApplySnapshot with Pendings outstanding")
	}
	pos := logPosition{meta.GetIndex(), meta.GetTerm()}
	s.trunc = pos
	s.last = pos.index
	s.staged = stagedLog{last: pos.index, trunc: pos}
	s.cache.reset()
	s.applied = appliedPosition{index: pos.index, term: pos.term, cs: proto.CloneOf(meta.GetConfState())}
	if s.applied.cs == nil {
		s.applied.cs = &raftpb.ConfState{}
	}
	s.hs = proto.CloneOf(hs)
	if s.hs == nil {
		s.hs = &raftpb.HardState{}
	}
	s.checkLocked()
}

// checkLocked verifies the Storage's invariants under the invariants
// build tag; a violation is a bug in this package and panics.
func (s *Storage) checkLocked() {
	if !invariants.Enabled {
		return
	}
	if err := s.cache.check(s.last); err != nil {
		panic(err)
	}
	if s.cache.len() > 0 && s.cache.lo <= s.trunc.index {
		panic(fmt.Sprintf("raftlog: cache starts at %d, at or below the truncated index %d", s.cache.lo, s.trunc.index))
	}
	if s.last < s.trunc.index {
		panic(fmt.Sprintf("raftlog: last index %d below the truncated index %d", s.last, s.trunc.index))
	}
	if len(s.pending) == 0 && s.staged != (stagedLog{last: s.last, trunc: s.trunc}) {
		panic(fmt.Sprintf("raftlog: nothing pending, but staged %+v differs from last %d, truncated %+v", s.staged, s.last, s.trunc))
	}
}
