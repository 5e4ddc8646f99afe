package replica

import (
	"bytes"
	"context"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
)

// A new range starts its log as the bootstrap's ranges do: after a
// "snapshot" at index 10, term 5 that every replica holds (docs/format/keys.md).
const (
	InitialIndex = 10
	InitialTerm  = 5
)

// Split proposes cutting the range at key: this range keeps the keys
// before it, a new range newRangeID (allocated by the placement group) the
// rest. epoch is the epoch the caller chose the key under (nil: not
// checked). It waits for the split to apply and returns both descriptors.
func (r *Replica) Split(ctx context.Context, key []byte, newRangeID uint64, epoch *kvpb.RangeEpoch) (left, right *kvpb.RangeDescriptor, err error) {
	cmd := &kvpb.Command{Epoch: epoch, Op: &kvpb.Command_Split{Split: &kvpb.SplitOp{SplitKey: key, NewRangeId: newRangeID}}}
	res, err := r.Propose(ctx, cmd)
	if err != nil {
		return nil, nil, err
	}
	return res.Descriptor, res.Right, nil
}

// checkSplit is what a split must satisfy, at propose and at apply (the
// same answer on every replica at the same applied index). raftMu is held.
func (r *Replica) checkSplit(epoch *kvpb.RangeEpoch, op *kvpb.SplitOp) *Error {
	desc := r.sm.desc
	k := op.GetSplitKey()
	switch {
	case r.cfg.Split == nil:
		return &Error{Detail: &kvpb.Error{Message: "splits are not enabled on this node"}}
	case desc.GetPlacement():
		return &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("range %d is the placement group: it holds no user keys to split", desc.GetRangeId())}}
	case epoch != nil && epoch.GetVersion() != desc.GetEpoch().GetVersion():
		return epochError(desc)
	case len(k) == 0 || bytes.Equal(k, desc.GetStartKey()) || !ContainsKey(desc, k):
		return &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("split key %q is not strictly inside range %d", k, desc.GetRangeId())}}
	case op.GetNewRangeId() == 0 || op.GetNewRangeId() <= desc.GetRangeId():
		// New IDs come from the allocator, which only counts up: the
		// right side's ID is always above the left's (the lock order of
		// a split relies on it).
		return &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("split of range %d: new range ID %d is not a fresh one", desc.GetRangeId(), op.GetNewRangeId())}}
	case len(r.sm.confState.GetVotersOutgoing()) > 0:
		return retryError("range %d is in a joint configuration; retry the split", desc.GetRangeId())
	}
	return nil
}

// applySplit applies a split entry in a batch of its own: the left side's
// shrunk descriptor and applied state, and the right side's descriptor and
// initial Raft state (or, when this node no longer hosts the right side,
// the deletion of its keys), all at once. raftMu is held.
func (r *Replica) applySplit(e *raftpb.Entry, epoch *kvpb.RangeEpoch, op *kvpb.SplitOp) (res Result, rerr, err error) {
	if e := r.checkSplit(epoch, op); e != nil {
		return Result{}, e, nil
	}
	desc := r.sm.desc
	k := op.GetSplitKey()
	// The right side's live keys and bytes, counted from the engine: every
	// replica counts the same data at the same index.
	lo, hi := keys.UserSpan(k, desc.GetEndKey())
	var rkeys, rbytes int64
	it, err := r.cfg.DB.NewIter(&dkv.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return Result{}, nil, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		rkeys++
		rbytes += int64(len(it.Key()) - 1 + len(it.Value()))
	}
	err = it.Error()
	_ = it.Close()
	if err != nil {
		return Result{}, nil, err
	}

	left := proto.Clone(desc).(*kvpb.RangeDescriptor)
	left.EndKey = bytes.Clone(k)
	left.Epoch.Version++
	right := &kvpb.RangeDescriptor{
		RangeId:       op.GetNewRangeId(),
		StartKey:      bytes.Clone(k),
		EndKey:        bytes.Clone(desc.GetEndKey()),
		Epoch:         &kvpb.RangeEpoch{ConfVer: desc.GetEpoch().GetConfVer(), Version: left.GetEpoch().GetVersion()},
		NextReplicaId: desc.GetNextReplicaId(),
	}
	for _, rd := range desc.GetReplicas() {
		right.Replicas = append(right.Replicas, proto.Clone(rd).(*kvpb.ReplicaDescriptor))
	}
	as := proto.Clone(r.sm.applied).(*kvpb.AppliedState)
	as.Index, as.Term = e.GetIndex(), e.GetTerm()
	as.LiveKeys -= rkeys
	as.LiveBytes -= rbytes
	cs, err := proto.Marshal(r.sm.confState)
	if err != nil {
		return Result{}, nil, err
	}
	as.ConfState = cs

	write := func(create bool, prior *raftpb.HardState) error {
		b := r.cfg.DB.NewBatch()
		defer b.Close()
		if err := putProto(b, keys.RangeDescriptor(r.cfg.RangeID), left); err != nil {
			return err
		}
		if err := putProto(b, keys.RangeAppliedState(r.cfg.RangeID), as); err != nil {
			return err
		}
		if create {
			hs := &raftpb.HardState{Term: proto.Uint64(InitialTerm), Commit: proto.Uint64(InitialIndex)}
			if prior.GetTerm() >= InitialTerm {
				// A vote the uninitialized replica gave is kept.
				hs.Term, hs.Vote = proto.Uint64(prior.GetTerm()), proto.Uint64(prior.GetVote())
			}
			if err := WriteInitialRange(b, right, r.sm.confState, hs, r.cfg.ReplicaID, rkeys, rbytes); err != nil {
				return err
			}
		} else if err := b.DeleteRange(lo, hi); err != nil {
			return err
		}
		if err := r.cfg.DB.Write(b, &dkv.WriteOptions{Sync: false}); err != nil {
			return fmt.Errorf("replica: range %d: apply split at %d: %w", r.cfg.RangeID, e.GetIndex(), err)
		}
		return nil
	}
	if err := r.cfg.Split(SplitArgs{Right: right, ReplicaID: r.cfg.ReplicaID, Lead: r.wasLead}, write); err != nil {
		return Result{}, nil, err
	}
	r.sm.applied = as
	r.sm.desc = left
	r.cfg.Logger.Info("replica: split", "range", r.cfg.RangeID, "key", fmt.Sprintf("%q", k), "new_range", right.GetRangeId())
	return Result{Descriptor: left, Right: right}, nil, nil
}

// WriteInitialRange writes into b the state a range's replica starts with:
// its descriptor and applied state (index InitialIndex, term InitialTerm,
// conf state cs, the live counts given), the truncated state at the same
// point, hs, and this node's replica ID. The bootstrap and splits use it.
func WriteInitialRange(b *dkv.Batch, desc *kvpb.RangeDescriptor, cs *raftpb.ConfState, hs *raftpb.HardState, replicaID uint64, liveKeys, liveBytes int64) error {
	rangeID := desc.GetRangeId()
	csb, err := proto.Marshal(cs)
	if err != nil {
		return err
	}
	as := &kvpb.AppliedState{Index: InitialIndex, Term: InitialTerm, ConfState: csb, LiveKeys: liveKeys, LiveBytes: liveBytes}
	if err := putProto(b, keys.RangeAppliedState(rangeID), as); err != nil {
		return err
	}
	if err := putProto(b, keys.RangeDescriptor(rangeID), desc); err != nil {
		return err
	}
	if err := putProto(b, keys.RaftHardState(rangeID), hs); err != nil {
		return err
	}
	if err := b.Put(keys.RaftReplicaID(rangeID), uint64Bytes(replicaID)); err != nil {
		return err
	}
	return putProto(b, keys.RaftTruncatedState(rangeID), &kvpb.TruncatedState{Index: InitialIndex, Term: InitialTerm})
}
