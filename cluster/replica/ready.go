package replica

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/kvpb"
)

// Process runs the replica's loop once: it steps what was queued into the
// RawNode and handles every Ready that results. The Store calls it from
// one worker at a time. An error is fatal for the Store (the engine failed
// a write); the replica has already reported it through Config.Fatal.
func (r *Replica) Process() error {
	r.raftMu.Lock()
	defer r.raftMu.Unlock()
	r.mu.Lock()
	if r.mu.destroyed {
		r.mu.Unlock()
		return nil
	}
	inbox, ticks, reports, transfer, campaign := r.mu.inbox, r.mu.ticks, r.mu.reports, r.mu.transfer, r.mu.campaign
	r.mu.inbox, r.mu.ticks, r.mu.reports, r.mu.transfer, r.mu.campaign = nil, 0, nil, 0, false
	// A quiescing heartbeat is acted on until the replica quiesces or
	// something wakes it: a follower that could not quiesce the moment it
	// stepped the heartbeat (a message was arriving) tries again at its
	// next tick, since its leader, quiesced, sends nothing more.
	quiesceFrom := r.mu.quiesceFrom
	r.mu.Unlock()
	if err := r.cfg.Stopped(); err != nil {
		r.failAll(stoppedError(err))
		return nil
	}

	// Messages before ticks: after a stall, a leader must see its
	// followers' answers before its clock runs on, or CheckQuorum steps it
	// down for silence that was its own. Ticks missed in a stall are
	// coalesced: a stall is not several election timeouts of silence.
	for _, m := range inbox {
		r.step(m)
	}
	if ticks > 0 && len(r.deferred) > 0 {
		msgs := make([]*raftpb.Message, 0, len(r.deferred))
		for _, m := range r.deferred {
			msgs = append(msgs, m)
		}
		clear(r.deferred)
		slices.SortFunc(msgs, func(a, b *raftpb.Message) int { return cmp.Compare(a.GetTo(), b.GetTo()) })
		r.send(msgs)
	}
	for range min(ticks, 2) {
		r.rn.Tick()
	}
	for _, rep := range reports {
		switch {
		case rep.unreachable:
			r.rn.ReportUnreachable(rep.to)
		case rep.snapDone:
			r.rn.ReportSnapshot(rep.to, raft.SnapshotFinish)
		case rep.snapFailed:
			r.rn.ReportSnapshot(rep.to, raft.SnapshotFailure)
		}
	}
	if transfer != 0 {
		r.rn.TransferLeader(transfer)
	}
	if campaign && r.sm.desc != nil {
		_ = r.rn.Campaign()
	}
	r.proposeQueued()
	r.requestReads()

	for r.rn.HasReady() {
		if err := r.handleReady(); err != nil {
			r.cfg.Fatal(err)
			r.failAll(stoppedError(err))
			return err
		}
		r.mu.Lock()
		destroyed := r.mu.destroyed
		r.mu.Unlock()
		if destroyed {
			break
		}
	}
	switch {
	case quiesceFrom != 0:
		r.maybeQuiesceFollower(quiesceFrom)
	case ticks > 0:
		r.maybeQuiesceLeader()
	}
	r.dropStaleSnapshots()
	r.publishStatus()
	return nil
}

// step hands one message to raft. A MsgSnap whose data was staged by
// ReceiveSnapshot is stepped like any other; raft answers it in a Ready —
// unless its range would overlap another replica on this node (a split
// this node has not applied yet), which it must not replace.
func (r *Replica) step(m *raftpb.Message) {
	if m.GetType() == raftpb.MsgSnap && r.cfg.Overlaps != nil {
		r.mu.Lock()
		in := r.mu.snaps[m.GetSnapshot().GetMetadata().GetIndex()]
		r.mu.Unlock()
		if in != nil && r.cfg.Overlaps(in.desc) {
			r.cfg.Logger.Info("replica: snapshot overlaps another replica on this node; dropped", "range", r.cfg.RangeID)
			return
		}
	}
	if err := r.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) && !errors.Is(err, raft.ErrStepLocalMsg) {
		r.cfg.Logger.Debug("replica: step", "range", r.cfg.RangeID, "type", m.GetType().String(), "err", err)
	}
}

// handleReady persists, sends and applies one Ready. raftMu is held.
func (r *Replica) handleReady() error {
	rd := r.rn.Ready()
	r.checkDroppedConfChanges(rd.Entries)

	lostLead := false
	if rd.SoftState != nil {
		isLead := rd.SoftState.RaftState == raft.StateLeader
		lostLead = r.wasLead && !isLead
		if isLead && !r.wasLead {
			// The log it inherits may hold conf changes.
			r.confIndex, _ = r.storage.LastIndex()
			if n := len(rd.Entries); n > 0 {
				r.confIndex = max(r.confIndex, rd.Entries[n-1].GetIndex())
			}
		}
		r.wasLead = isLead
	}
	if r.wasLead {
		for _, e := range rd.Entries {
			if t := e.GetType(); t == raftpb.EntryConfChange || t == raftpb.EntryConfChangeV2 {
				r.confIndex = max(r.confIndex, e.GetIndex())
			}
		}
	}

	if lostLead {
		clear(r.deferred)
	}

	// 1. A snapshot goes in first, with one ingest (snapshot.go).
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := r.installSnapshot(rd.Snapshot, rd.HardState); err != nil {
			return err
		}
	}

	// 2. The entries and the HardState: one synced batch, before any
	// message that depends on them leaves. A leader's appends and
	// heartbeats do not: they go out first, so that the followers' writes
	// overlap the leader's own (raft's thesis, 10.2.1). raft counts the
	// leader's own entries toward a commit only through the
	// self-acknowledgement it steps in Advance, after this write.
	msgs := rd.Messages
	if r.wasLead {
		var later []*raftpb.Message
		var early []*raftpb.Message
		for _, m := range msgs {
			switch m.GetType() {
			case raftpb.MsgApp:
				if len(m.GetEntries()) == 0 && r.deferrable(m) {
					if r.deferred == nil {
						r.deferred = make(map[uint64]*raftpb.Message)
					}
					r.deferred[m.GetTo()] = proto.Clone(m).(*raftpb.Message)
					continue
				}
				delete(r.deferred, m.GetTo())
				early = append(early, m)
			case raftpb.MsgHeartbeat:
				early = append(early, m)
			default:
				later = append(later, m)
			}
		}
		r.send(early)
		msgs = later
	}
	if len(rd.Entries) > 0 || !raft.IsEmptyHardState(rd.HardState) {
		b := r.cfg.DB.NewBatch()
		pending, err := r.storage.Append(b, rd.HardState, rd.Entries)
		if err == nil {
			err = r.cfg.DB.Write(b, &dkv.WriteOptions{Sync: rd.MustSync})
		}
		b.Close()
		if err != nil {
			return fmt.Errorf("replica: range %d: persist ready: %w", r.cfg.RangeID, err)
		}
		r.storage.Applied(pending)
		r.lastLog += uint64(len(rd.Entries))
	}

	// 3. The messages.
	r.send(msgs)

	// 4. The committed entries, then the reads and proposals they answer.
	if len(rd.CommittedEntries) > 0 {
		if err := r.applyEntries(rd.CommittedEntries); err != nil {
			return err
		}
	}
	r.readStatesReady(rd.ReadStates)
	r.finishReads()
	if lostLead {
		// After this Ready's committed entries answered their
		// proposals: what is still in flight may or may not commit.
		r.failInflight()
		r.failUnconfirmedReads(rd.SoftState.Lead)
	}

	r.rn.Advance(rd)

	// 5. Truncate the log behind the applied index, keeping a tail.
	return r.maybeTruncate()
}

// deferrable says whether an empty MsgApp from this leader to a follower
// may wait: it carries no entries, only the commit index (and the
// follower's position, which it already has). raft broadcasts one to
// every follower each time the commit index moves, which doubles the
// messages (and the followers' Readies) per write. Held back, it is
// replaced by the next MsgApp to that follower, which carries a commit
// index as new and the same or a later position, or sent at the next tick
// (deferred); heartbeats carry the commit index meanwhile. Only when the
// follower replicates with nothing beyond the message's position: a
// probing follower waits for this message. And not while a conf change in
// the log is unapplied here: a follower it removes must learn the commit
// to apply its removal, and hears no heartbeat after. raftMu is held.
func (r *Replica) deferrable(m *raftpb.Message) bool {
	if r.sm.appliedIndex() <= r.confIndex {
		return false
	}
	ok := false
	r.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id == m.GetTo() {
			ok = pr.State == tracker.StateReplicate && pr.Next == m.GetIndex()+1
		}
	})
	return ok
}

// send routes a Ready's messages to their nodes, marshalled here (raft's
// messages must not be used after Advance). MsgSnap goes to the snapshot
// sender instead.
func (r *Replica) send(msgs []*raftpb.Message) { r.sendFlagged(msgs, false) }

// sendFlagged is send, with every message marked quiescing or not.
func (r *Replica) sendFlagged(msgs []*raftpb.Message, quiesce bool) {
	if len(msgs) == 0 {
		return
	}
	from := &kvpb.ReplicaDescriptor{NodeId: r.cfg.NodeID, ReplicaId: r.cfg.ReplicaID}
	byNode := make(map[uint64][]*kvpb.RaftMessage)
	var order []uint64
	for _, m := range msgs {
		node := r.nodeOf(m.GetTo())
		if node == 0 {
			if m.GetType() == raftpb.MsgSnap {
				r.mu.Lock()
				r.mu.reports = append(r.mu.reports, report{to: m.GetTo(), snapFailed: true})
				r.mu.Unlock()
			}
			continue // a replica we cannot route to yet
		}
		if m.GetType() == raftpb.MsgSnap {
			r.sendSnapshot(m, node)
			continue
		}
		data, err := proto.Marshal(m)
		if err != nil {
			panic(fmt.Sprintf("replica: marshal raft message: %v", err))
		}
		if _, ok := byNode[node]; !ok {
			order = append(order, node)
		}
		byNode[node] = append(byNode[node], &kvpb.RaftMessage{
			RangeId: r.cfg.RangeID,
			From:    from,
			To:      &kvpb.ReplicaDescriptor{NodeId: node, ReplicaId: m.GetTo()},
			Message: data,
			Quiesce: quiesce,
		})
	}
	for _, node := range order {
		if !r.cfg.Sender.Send(node, byNode[node]) {
			r.mu.Lock()
			for _, rd := range r.sm.desc.GetReplicas() {
				if rd.GetNodeId() == node {
					r.mu.reports = append(r.mu.reports, report{to: rd.GetReplicaId(), unreachable: true})
				}
			}
			r.mu.Unlock()
		}
	}
}

// maybeTruncate deletes log entries far enough behind the applied index.
// The batch is synced: the applied state it relies on was written before
// it, and the engine's log makes a synced write durable with everything
// written before it. raftMu is held.
func (r *Replica) maybeTruncate() error {
	tail := r.cfg.LogTailEntries
	if r.lastLog < tail/2 {
		return nil
	}
	applied := r.sm.appliedIndex()
	first, _ := r.storage.FirstIndex()
	if applied < first || applied-first+1 <= tail {
		return nil
	}
	r.lastLog = 0
	upTo := applied - tail/2
	b := r.cfg.DB.NewBatch()
	defer b.Close()
	pending, err := r.storage.Truncate(b, upTo)
	if err != nil {
		return fmt.Errorf("replica: range %d: truncate log to %d: %w", r.cfg.RangeID, upTo, err)
	}
	if err := r.cfg.DB.Write(b, &dkv.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("replica: range %d: truncate log: %w", r.cfg.RangeID, err)
	}
	r.storage.Applied(pending)
	return nil
}
