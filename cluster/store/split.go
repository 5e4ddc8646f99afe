package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
)

// splitRange is replica.Config.Split: it creates the right side of a split
// that a replica of this Store is applying (docs/ranges.md, "The slow
// replica"). The caller holds the left replica's raftMu; this takes the
// lifecycle lock (no replica of the right side is created or removed
// meanwhile) and then, if an uninitialized replica of the right side is
// here, its raftMu (through Stop): the right side's range ID is higher than
// the left's, so the lock order is kept.
func (s *Store) splitRange(a replica.SplitArgs, write func(create bool, prior *raftpb.HardState) error) error {
	s.lifecycle.Lock()
	defer s.lifecycle.Unlock()
	id := a.Right.GetRangeId()
	next, err := s.tombstone(id)
	if err != nil {
		return err
	}
	create := next <= a.ReplicaID
	s.mu.RLock()
	old := s.mu.replicas[id]
	s.mu.RUnlock()
	var prior *raftpb.HardState
	if old != nil {
		switch {
		case old.Descriptor() != nil:
			// A snapshot of the right side is only taken once it overlaps
			// nothing here, and the left side still holds its keys.
			return fmt.Errorf("store: split creating range %d: it is already initialized on node %d", id, s.NodeID())
		case old.ReplicaID() > a.ReplicaID:
			// This node's replica of the right side was removed and
			// added back: the newer one catches up by snapshot.
			create = false
		default:
			// The right side's leader reached this node first: the
			// uninitialized replica may have voted. It stops here, and
			// its HardState is carried into the split's.
			s.splitsOverUninit.Add(1)
			old.Stop()
			prior, err = s.loadHardState(id)
			if err != nil {
				return err
			}
		}
	}
	if err := write(create, prior); err != nil {
		return err
	}
	if !create {
		s.logger.Info("store: split's right side not created here (its replica on this node was removed)", "range", id)
		return nil
	}
	s.mu.Lock()
	delete(s.mu.replicas, id)
	nr, err := s.addReplicaLocked(id, a.ReplicaID)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.sched.add(id)
	if a.Lead {
		nr.Campaign()
	}
	return nil
}

func (s *Store) loadHardState(rangeID uint64) (*raftpb.HardState, error) {
	v, err := s.db.Get(keys.RaftHardState(rangeID))
	if errors.Is(err, dkv.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	hs := &raftpb.HardState{}
	if err := proto.Unmarshal(v, hs); err != nil {
		return nil, fmt.Errorf("%w: key %q: hard state: %v", dkv.ErrCorruption, keys.RaftHardState(rangeID), err)
	}
	return hs, nil
}

// overlaps is replica.Config.Overlaps: whether desc's keys overlap those of
// another initialized replica on this node.
func (s *Store) overlaps(desc *kvpb.RangeDescriptor) bool {
	if desc.GetPlacement() {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for id, r := range s.mu.replicas {
		d := r.Descriptor()
		if id == desc.GetRangeId() || d == nil || d.GetPlacement() {
			continue
		}
		if spansOverlap(d.GetStartKey(), d.GetEndKey(), desc.GetStartKey(), desc.GetEndKey()) {
			return true
		}
	}
	return false
}

// spansOverlap reports whether [a, b) and [c, d) share a key (an empty end
// is the end of the key space).
func spansOverlap(a, b, c, d []byte) bool {
	return (len(d) == 0 || bytes.Compare(a, d) < 0) && (len(b) == 0 || bytes.Compare(c, b) < 0)
}

// SplitsOverUninitialized counts the splits that found an uninitialized
// replica of their right side on this node (its leader's messages came
// before the split applied here) and took it over.
func (s *Store) SplitsOverUninitialized() int64 { return s.splitsOverUninit.Load() }

// AllocateRangeID takes a new range ID from the placement group's
// allocator. This node's replica of the placement group must lead
// (otherwise NotLeader names the node that does).
func (s *Store) AllocateRangeID(ctx context.Context) (uint64, error) {
	r, err := s.placement()
	if err != nil {
		return 0, err
	}
	res, err := r.Propose(ctx, &kvpb.Command{Op: &kvpb.Command_AllocateRangeId{AllocateRangeId: &kvpb.AllocateRangeIDOp{}}})
	return res.RangeID, err
}

// SplitRange splits rangeID at key (empty: the key that halves its bytes),
// with a new range ID from alloc. This node's replica must lead the range.
// epoch, if set, is the epoch the caller chose the key under.
func (s *Store) SplitRange(ctx context.Context, rangeID uint64, key []byte, epoch *kvpb.RangeEpoch, alloc func(context.Context) (uint64, error)) (left, right *kvpb.RangeDescriptor, err error) {
	r := s.Replica(rangeID)
	if r == nil || r.Descriptor() == nil {
		return nil, nil, replica.RangeNotFound(rangeID, fmt.Sprintf("range %d is not on node %d", rangeID, s.NodeID()))
	}
	if st := r.Status(); st.RaftState != "StateLeader" {
		return nil, nil, replica.NotLeader(rangeID, st.LeadNode)
	}
	if len(key) == 0 {
		if key, err = s.halvingKey(r); err != nil {
			return nil, nil, err
		}
	}
	id, err := alloc(ctx)
	if err != nil {
		return nil, nil, err
	}
	return r.Split(ctx, key, id, epoch)
}

// ErrTooSmallToSplit: the range holds fewer than two keys.
var ErrTooSmallToSplit = errors.New("store: the range holds too few keys to split")

// halvingKey returns the key of r's range at which the keys before it
// hold about half the range's live bytes (as its applied state counts
// them), never the range's first key.
func (s *Store) halvingKey(r *replica.Replica) ([]byte, error) {
	st := r.Status()
	lo, hi := replica.UserSpan(st.Descriptor)
	if lo == nil || st.LiveKeys < 2 {
		return nil, ErrTooSmallToSplit
	}
	it, err := s.db.NewIter(&dkv.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var sum int64
	var last []byte
	for ok := it.First(); ok; ok = it.Next() {
		if last != nil && sum >= st.LiveBytes/2 {
			return bytes.Clone(it.Key()[1:]), nil
		}
		last = append(last[:0], it.Key()[1:]...)
		sum += int64(len(it.Key()) - 1 + len(it.Value()))
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	if last == nil {
		return nil, ErrTooSmallToSplit
	}
	// The last key holds more than half: split just before it (or, with
	// one key left, the split is refused at propose).
	return last, nil
}
