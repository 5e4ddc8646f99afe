package replica

import (
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// Idle ranges cost next to nothing: a leader whose range has had nothing
// to do for quiesceAfterTicks tick rounds, with every replica caught up
// and every follower's node live, sends each follower a last heartbeat
// marked quiesce and stops ticking; a follower that steps it, caught up
// and with nothing pending, stops ticking too. A quiesced range sends no
// heartbeats and runs no election timers. It wakes on any request, on any
// message but a heartbeat response, and — on a follower — when the
// leader's node stops being live (the Store's node heartbeats, one per
// node pair, stand in for the ranges' own): a dead leader is noticed
// within an election timeout of its node falling silent.
const quiesceAfterTicks = 3

// maybeQuiesceLeader quiesces the range if this replica leads it and it is
// idle. raftMu is held.
func (r *Replica) maybeQuiesceLeader() {
	if r.cfg.Live == nil || r.sm.desc == nil {
		return
	}
	if !r.quiescible() {
		r.idleTicks = 0
		return
	}
	r.idleTicks++
	if r.idleTicks < quiesceAfterTicks {
		return
	}
	r.idleTicks = 0
	bs := r.rn.BasicStatus()
	var hbs []*raftpb.Message
	r.rn.WithProgress(func(id uint64, _ raft.ProgressType, _ tracker.Progress) {
		if id == r.cfg.ReplicaID {
			return
		}
		hbs = append(hbs, &raftpb.Message{
			Type: raftpb.MsgHeartbeat.Enum(), To: proto.Uint64(id), From: proto.Uint64(r.cfg.ReplicaID),
			Term: proto.Uint64(bs.HardState.GetTerm()), Commit: proto.Uint64(bs.HardState.GetCommit()),
		})
	})
	r.mu.Lock()
	if r.busyLocked() {
		r.mu.Unlock()
		return // work arrived meanwhile
	}
	r.mu.quiesced = true
	r.mu.Unlock()
	clear(r.deferred) // the heartbeats carry the commit index
	r.sendFlagged(hbs, true)
}

// quiescible reports whether this leader's range is idle: nothing queued
// or in flight, the log committed and applied everywhere, no membership
// change pending, every replica replicating and caught up on a live node.
// raftMu is held.
func (r *Replica) quiescible() bool {
	bs := r.rn.BasicStatus()
	if bs.RaftState != raft.StateLeader || bs.LeadTransferee != 0 || r.rn.HasReady() {
		return false
	}
	r.mu.Lock()
	busy := r.busyLocked()
	r.mu.Unlock()
	last, _ := r.storage.LastIndex()
	if busy || bs.HardState.GetCommit() != last || r.sm.appliedIndex() != last || r.confIndex > r.sm.appliedIndex() ||
		len(r.sm.confState.GetVotersOutgoing()) > 0 {
		return false
	}
	ok := true
	r.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id == r.cfg.ReplicaID {
			return
		}
		node := r.nodeOf(id)
		ok = ok && pr.State == tracker.StateReplicate && pr.Match == last && node != 0 && r.cfg.Live(node)
	})
	return ok
}

// busyLocked reports whether the replica has anything to do or in
// flight: messages to step, requests queued or proposed, reads waiting,
// a leadership transfer, snapshots staged or being sent. r.mu is held.
func (r *Replica) busyLocked() bool {
	return len(r.mu.inbox) > 0 || len(r.mu.queued) > 0 || len(r.mu.inflight) > 0 || len(r.mu.reads) > 0 ||
		len(r.mu.waiting) > 0 || len(r.mu.readsByID) > 0 || r.mu.transfer != 0 || len(r.mu.snaps) > 0 || len(r.mu.sending) > 0
}

// maybeQuiesceFollower quiesces this replica after stepping its leader's
// quiescing heartbeat, if it follows that leader, has applied everything
// committed and has nothing pending. raftMu is held.
func (r *Replica) maybeQuiesceFollower(from uint64) {
	bs := r.rn.BasicStatus()
	last, _ := r.storage.LastIndex()
	if bs.RaftState != raft.StateFollower || bs.Lead != from || bs.HardState.GetTerm() == 0 || r.sm.appliedIndex() != bs.HardState.GetCommit() || last < bs.HardState.GetCommit() || r.rn.HasReady() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.quiesceFrom != from || r.busyLocked() {
		return // woken meanwhile, or work arrived: the next Process decides
	}
	r.mu.quiesced = true
	r.mu.quiesceFrom = 0
}

// WakeIfLeaderDown wakes a quiesced follower whose leader's node is not
// live, so that its election timer runs again. live is called without the
// replica's locks (it takes the Store's).
func (r *Replica) WakeIfLeaderDown(live func(node uint64) bool) {
	r.mu.Lock()
	check := r.mu.quiesced && r.mu.status.RaftState != raft.StateLeader.String()
	lead := r.mu.status.LeadNode
	r.mu.Unlock()
	if !check || (lead != 0 && live(lead)) {
		return
	}
	r.mu.Lock()
	if r.mu.status.LeadNode == lead {
		r.mu.quiesced = false
	}
	r.mu.Unlock()
}

// Quiesced reports whether the range is quiesced on this replica.
func (r *Replica) Quiesced() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.quiesced
}
