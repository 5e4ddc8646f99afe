package replica

import (
	"context"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3/confchange"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/kvpb"
)

// ChangeReplicas proposes one membership change of the range and waits for
// it to apply: changes are made through a joint configuration (raft
// leaves it by itself) unless the change is a single learner addition or
// removal. Node IDs of new replicas get fresh replica IDs from the
// descriptor. epoch is the conf_ver the caller saw (0: the current one).
func (r *Replica) ChangeReplicas(ctx context.Context, confVer uint64, changes []*kvpb.ReplicaChange) (*kvpb.RangeDescriptor, error) {
	desc := r.Descriptor()
	if desc == nil {
		return nil, rangeNotFoundError(r.cfg.RangeID)
	}
	if confVer == 0 {
		confVer = desc.GetEpoch().GetConfVer()
	}
	cc, cctx, err := planConfChange(desc, changes)
	if err != nil {
		return nil, err
	}
	cctx.Id = newProposalID()
	cctx.Epoch = &kvpb.RangeEpoch{ConfVer: confVer, Version: desc.GetEpoch().GetVersion()}
	if cc.Context, err = proto.Marshal(cctx); err != nil {
		return nil, err
	}
	res, err := r.propose(ctx, &proposal{id: cctx.Id, cc: cc, ctx: cctx, done: make(chan struct{})})
	if err != nil {
		return nil, err
	}
	return res.Descriptor, nil
}

// planConfChange turns replica changes into a ConfChangeV2 and its
// context (which records the node of every replica ID it names).
func planConfChange(desc *kvpb.RangeDescriptor, changes []*kvpb.ReplicaChange) (*raftpb.ConfChangeV2, *kvpb.ConfChangeContext, error) {
	if len(changes) == 0 {
		return nil, nil, &Error{Detail: &kvpb.Error{Message: "no replica changes"}}
	}
	cc := &raftpb.ConfChangeV2{}
	cctx := &kvpb.ConfChangeContext{}
	next := desc.GetNextReplicaId()
	onNode := func(node uint64) *kvpb.ReplicaDescriptor {
		for _, rd := range desc.GetReplicas() {
			if rd.GetNodeId() == node {
				return rd
			}
		}
		return nil
	}
	joint := len(changes) > 1
	seen := map[uint64]bool{}
	for _, ch := range changes {
		if ch.GetNodeId() == 0 {
			return nil, nil, &Error{Detail: &kvpb.Error{Message: "replica change without a node ID"}}
		}
		if seen[ch.GetNodeId()] {
			return nil, nil, &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("node %d named twice in one membership change", ch.GetNodeId())}}
		}
		seen[ch.GetNodeId()] = true
		cur := onNode(ch.GetNodeId())
		var typ raftpb.ConfChangeType
		var id uint64
		switch ch.GetType() {
		case kvpb.ReplicaChangeType_ADD_LEARNER:
			if cur != nil {
				return nil, nil, &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("node %d already holds replica %d of range %d", ch.GetNodeId(), cur.GetReplicaId(), desc.GetRangeId())}}
			}
			id = next
			next++
			typ = raftpb.ConfChangeAddLearnerNode
		case kvpb.ReplicaChangeType_PROMOTE_LEARNER:
			if cur == nil || cur.GetRole() != kvpb.ReplicaRole_LEARNER {
				return nil, nil, &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("node %d holds no learner of range %d", ch.GetNodeId(), desc.GetRangeId())}}
			}
			id, typ, joint = cur.GetReplicaId(), raftpb.ConfChangeAddNode, true
		case kvpb.ReplicaChangeType_DEMOTE_VOTER:
			if cur == nil || cur.GetRole() != kvpb.ReplicaRole_VOTER {
				return nil, nil, &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("node %d holds no voter of range %d", ch.GetNodeId(), desc.GetRangeId())}}
			}
			id, typ, joint = cur.GetReplicaId(), raftpb.ConfChangeAddLearnerNode, true
		case kvpb.ReplicaChangeType_REMOVE_REPLICA:
			if cur == nil {
				return nil, nil, &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("node %d holds no replica of range %d", ch.GetNodeId(), desc.GetRangeId())}}
			}
			id, typ = cur.GetReplicaId(), raftpb.ConfChangeRemoveNode
			if cur.GetRole() != kvpb.ReplicaRole_LEARNER {
				joint = true
			}
		default:
			return nil, nil, &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("unknown replica change %v", ch.GetType())}}
		}
		cc.Changes = append(cc.Changes, &raftpb.ConfChangeSingle{Type: typ.Enum(), NodeId: proto.Uint64(id)})
		cctx.Replicas = append(cctx.Replicas, &kvpb.ReplicaDescriptor{NodeId: ch.GetNodeId(), ReplicaId: id})
	}
	if joint {
		// The automatic leave: raft proposes the leave itself once the
		// joint configuration applies, so the group never stays joint.
		cc.Transition = raftpb.ConfChangeTransitionJointImplicit.Enum()
	}
	return cc, cctx, nil
}

// validateConfChange runs cc against cs the way raft will, without
// changing anything: raft panics on a change its Changer refuses, so such
// a change must never reach ApplyConfChange.
func validateConfChange(cs *raftpb.ConfState, cc *raftpb.ConfChangeV2) error {
	if _, ok := raftpb.ConfChangeTransition_name[int32(cc.GetTransition())]; !ok {
		return fmt.Errorf("unknown transition %d", cc.GetTransition())
	}
	for _, c := range cc.GetChanges() {
		if _, ok := raftpb.ConfChangeType_name[int32(c.GetType())]; !ok {
			return fmt.Errorf("unknown change type %d", c.GetType())
		}
	}
	chg := confchange.Changer{Tracker: tracker.MakeProgressTracker(1, 0), LastIndex: 1}
	cfg, trk, err := confchange.Restore(chg, cs)
	if err != nil {
		return err
	}
	chg.Tracker.Config, chg.Tracker.Progress = cfg, trk
	if cc.LeaveJoint() {
		_, _, err = chg.LeaveJoint()
	} else if autoLeave, ok := cc.EnterJoint(); ok {
		_, _, err = chg.EnterJoint(autoLeave, cc.GetChanges()...)
	} else {
		_, _, err = chg.Simple(cc.GetChanges()...)
	}
	return err
}

// noopConfChange is what a refused change is applied as: a change of
// NodeID 0, which raft's Changer skips. Every committed conf-change entry
// must reach ApplyConfChange, or raft's configuration and ours drift.
func noopConfChange() *raftpb.ConfChangeV2 {
	return &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{
		Type: raftpb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(0),
	}}}
}

// applyConfChange applies a committed conf-change entry: checked against
// the descriptor's conf_ver, handed to raft (as a no-op when refused), and
// reflected in the descriptor. self reports that this replica is no longer
// a member.
func (r *Replica) applyConfChange(e *raftpb.Entry) (id uint64, res Result, rerr error, self bool, err error) {
	cc := &raftpb.ConfChangeV2{}
	if e.GetType() == raftpb.EntryConfChange {
		v1 := &raftpb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), v1); err != nil {
			return 0, Result{}, nil, false, fmt.Errorf("%w: range %d: entry %d: conf change: %v", dkv.ErrCorruption, r.cfg.RangeID, e.GetIndex(), err)
		}
		cc = v1.AsV2()
	} else if err := proto.Unmarshal(e.GetData(), cc); err != nil {
		return 0, Result{}, nil, false, fmt.Errorf("%w: range %d: entry %d: conf change: %v", dkv.ErrCorruption, r.cfg.RangeID, e.GetIndex(), err)
	}
	cctx := &kvpb.ConfChangeContext{}
	leave := cc.LeaveJoint() && len(cc.GetContext()) == 0
	if leave {
		// raft proposes the leave only while joint; any other leave (one
		// that could only come from a damaged log) must not reach raft,
		// which panics on it.
		if verr := validateConfChange(r.sm.confState, cc); verr != nil {
			rerr = &Error{Detail: &kvpb.Error{Message: "invalid membership change: " + verr.Error()}}
		}
	} else {
		if err := proto.Unmarshal(cc.GetContext(), cctx); err != nil {
			rerr = &Error{Detail: &kvpb.Error{Message: "conf change with an unreadable context"}}
		} else if cctx.GetEpoch().GetConfVer() != r.sm.desc.GetEpoch().GetConfVer() {
			rerr = epochError(r.sm.desc)
		} else if verr := validateConfChange(r.sm.confState, cc); verr != nil {
			rerr = &Error{Detail: &kvpb.Error{Message: "invalid membership change: " + verr.Error()}}
		}
	}
	if rerr != nil {
		// raft offers no no-op change inside a joint configuration (a
		// simple change is refused there, and raft panics); raft itself
		// refuses every proposal but the leave while joint, so a refused
		// entry is only ever met outside one.
		if len(r.sm.confState.GetVotersOutgoing()) == 0 {
			r.sm.confState = r.rn.ApplyConfChange(noopConfChange())
		}
		return cctx.GetId(), Result{}, rerr, false, nil
	}
	r.sm.confState = r.rn.ApplyConfChange(cc)
	desc := proto.Clone(r.sm.desc).(*kvpb.RangeDescriptor)
	desc.Replicas = replicasFromConfState(r.sm.confState, desc.GetReplicas(), cctx.GetReplicas())
	for _, rd := range desc.Replicas {
		desc.NextReplicaId = max(desc.GetNextReplicaId(), rd.GetReplicaId()+1)
	}
	if desc.Epoch == nil {
		desc.Epoch = &kvpb.RangeEpoch{}
	}
	desc.Epoch.ConfVer++
	r.sm.desc = desc
	self = !slices.ContainsFunc(desc.Replicas, func(rd *kvpb.ReplicaDescriptor) bool {
		return rd.GetReplicaId() == r.cfg.ReplicaID
	})
	return cctx.GetId(), Result{Descriptor: proto.Clone(desc).(*kvpb.RangeDescriptor)}, nil, self, nil
}

// replicasFromConfState lists the members of cs with their roles and
// nodes (from the old descriptor, or the change's context for new ones).
func replicasFromConfState(cs *raftpb.ConfState, old, added []*kvpb.ReplicaDescriptor) []*kvpb.ReplicaDescriptor {
	node := map[uint64]uint64{}
	for _, rd := range old {
		node[rd.GetReplicaId()] = rd.GetNodeId()
	}
	for _, rd := range added {
		node[rd.GetReplicaId()] = rd.GetNodeId()
	}
	joint := len(cs.GetVotersOutgoing()) > 0
	role := map[uint64]kvpb.ReplicaRole{}
	var ids []uint64
	add := func(id uint64, ro kvpb.ReplicaRole) {
		if _, ok := role[id]; !ok {
			ids = append(ids, id)
		}
		role[id] = ro
	}
	for _, id := range cs.GetLearners() {
		add(id, kvpb.ReplicaRole_LEARNER)
	}
	for _, id := range cs.GetLearnersNext() {
		add(id, kvpb.ReplicaRole_VOTER_DEMOTING)
	}
	for _, id := range cs.GetVotersOutgoing() {
		if slices.Contains(cs.GetVoters(), id) {
			add(id, kvpb.ReplicaRole_VOTER)
		} else {
			add(id, kvpb.ReplicaRole_VOTER_DEMOTING)
		}
	}
	for _, id := range cs.GetVoters() {
		if joint && !slices.Contains(cs.GetVotersOutgoing(), id) {
			add(id, kvpb.ReplicaRole_VOTER_INCOMING)
		} else {
			add(id, kvpb.ReplicaRole_VOTER)
		}
	}
	slices.Sort(ids)
	out := make([]*kvpb.ReplicaDescriptor, 0, len(ids))
	for _, id := range ids {
		out = append(out, &kvpb.ReplicaDescriptor{NodeId: node[id], ReplicaId: id, Role: role[id]})
	}
	return out
}

// markDestroyed records that this replica left its range; the Store
// removes it (Store.removeReplica) after Process returns.
func (r *Replica) markDestroyed() {
	r.mu.Lock()
	r.mu.destroyed = true
	r.mu.Unlock()
	r.failAll(rangeNotFoundError(r.cfg.RangeID))
}

// TransferLeader asks the leader to hand leadership to the voter on node
// (raft first brings it up to date). It returns once the request is
// queued; leadership moves, or not, within an election timeout.
func (r *Replica) TransferLeader(ctx context.Context, node uint64) error {
	desc := r.Descriptor()
	if desc == nil {
		return rangeNotFoundError(r.cfg.RangeID)
	}
	st := r.Status()
	if st.RaftState != "StateLeader" {
		return notLeaderError(r.cfg.RangeID, st.LeadNode)
	}
	for _, rd := range desc.GetReplicas() {
		if rd.GetNodeId() == node {
			if rd.GetRole() != kvpb.ReplicaRole_VOTER {
				return &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("replica on node %d is not a voter", node)}}
			}
			r.mu.Lock()
			r.mu.transfer = rd.GetReplicaId()
			r.mu.Unlock()
			r.cfg.Schedule()
			return ctx.Err()
		}
	}
	return &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("range %d has no replica on node %d", r.cfg.RangeID, node)}}
}
