package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
)

// addReplicaLocked creates the Replica of rangeID with replicaID from what
// the engine holds (s.mu is held, or the Store is being opened).
func (s *Store) addReplicaLocked(rangeID, replicaID uint64) (*replica.Replica, error) {
	r, err := replica.New(replica.Config{
		NodeID:         s.mu.ident.GetNodeId(),
		ClusterID:      s.mu.ident.GetClusterId(),
		RangeID:        rangeID,
		ReplicaID:      replicaID,
		DB:             s.db,
		FS:             s.fs,
		AuxDir:         s.fs.PathJoin(s.cfg.Dir, "aux"),
		Sender:         senderFunc{s},
		Schedule:       func() { s.sched.add(rangeID) },
		Fatal:          s.fatal,
		Stopped:        s.stoppedErr,
		Go:             s.goFunc(),
		OnApply:        s.onApply(rangeID),
		Split:          s.splitRange,
		Overlaps:       s.overlaps,
		Live:           s.liveFunc(),
		ElectionTick:   s.cfg.ElectionTick,
		HeartbeatTick:  s.cfg.HeartbeatTick,
		LogTailEntries: s.cfg.LogTailEntries,
		Logger:         s.logger,
	})
	if err != nil {
		return nil, err
	}
	s.mu.replicas[rangeID] = r
	return r, nil
}

func (s *Store) liveFunc() func(uint64) bool {
	if s.cfg.DisableQuiesce {
		return nil
	}
	return s.live
}

func (s *Store) onApply(rangeID uint64) func(*raftpb.Entry) {
	if s.cfg.OnApply == nil {
		return nil
	}
	return func(e *raftpb.Entry) { s.cfg.OnApply(rangeID, e) }
}

// Replica returns the replica of rangeID on this node, or nil.
func (s *Store) Replica(rangeID uint64) *replica.Replica {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.replicas[rangeID]
}

// Replicas returns the node's replicas in range-ID order.
func (s *Store) Replicas() []*replica.Replica {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*replica.Replica, 0, len(s.mu.replicas))
	for _, r := range s.mu.replicas {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *replica.Replica) int { return cmpUint(a.RangeID(), b.RangeID()) })
	return out
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ReplicaForKey returns the initialized replica whose range holds the
// user key.
func (s *Store) ReplicaForKey(key []byte) (*replica.Replica, error) {
	s.mu.RLock()
	for _, r := range s.mu.replicas {
		d := r.Descriptor()
		if d == nil {
			continue
		}
		if replica.ContainsKey(d, key) {
			s.mu.RUnlock()
			return r, nil
		}
	}
	s.mu.RUnlock()
	return nil, replica.RangeNotFound(0, fmt.Sprintf("no range holding key %q on node %d", key, s.NodeID()))
}

// tombstone returns the next replica ID this node may host for rangeID
// (0 if no replica of it was ever removed here).
func (s *Store) tombstone(rangeID uint64) (uint64, error) {
	v, err := s.db.Get(keys.ReplicaTombstone(rangeID))
	if errors.Is(err, dkv.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	t := &kvpb.ReplicaTombstone{}
	if err := proto.Unmarshal(v, t); err != nil {
		return 0, fmt.Errorf("%w: key %q: replica tombstone: %v", dkv.ErrCorruption, keys.ReplicaTombstone(rangeID), err)
	}
	return t.GetNextReplicaId(), nil
}

// replicaForMessage returns the replica a message to (rangeID, to) is for,
// creating an uninitialized one when this node has none and the replica
// ID is not below its tombstone. It returns nil for a message to a
// replica that no longer exists here (an older ID, or a removed one).
// Creation and removal are serialized by s.lifecycle. Only what a leader
// sends to a new member (an append, a heartbeat, a snapshot) may create
// or replace a replica (create); anything else to a replica that is not
// here is dropped.
func (s *Store) replicaForMessage(rangeID, to uint64, create bool) (*replica.Replica, error) {
	if rangeID == 0 || to == 0 {
		return nil, nil
	}
	s.mu.RLock()
	r := s.mu.replicas[rangeID]
	s.mu.RUnlock()
	if r != nil && r.ReplicaID() == to && !r.Destroyed() {
		return r, nil // the common case, without the lifecycle lock
	}
	if !create {
		return nil, nil
	}
	s.lifecycle.Lock()
	defer s.lifecycle.Unlock()
	s.mu.RLock()
	r = s.mu.replicas[rangeID]
	s.mu.RUnlock()
	if r != nil {
		switch {
		case r.ReplicaID() == to && !r.Destroyed():
			return r, nil
		case to < r.ReplicaID() || (r.ReplicaID() == to && r.Destroyed()):
			return nil, nil
		}
		// A newer replica of the range on this node: the old one was
		// removed without hearing of it. Its worker removes it after its
		// next Process (stopping it here could wait on a Process that
		// waits for the lifecycle lock: a split); raft sends again.
		s.mu.Lock()
		s.mu.stale[rangeID] = r
		s.mu.Unlock()
		s.sched.add(rangeID)
		return nil, nil
	}
	next, err := s.tombstone(rangeID)
	if err != nil {
		return nil, err
	}
	if to < next || s.Ident() == nil {
		return nil, nil
	}
	// The Replica is built first, then its ID is written: a replica that
	// cannot be built leaves nothing behind.
	s.mu.Lock()
	nr, err := s.addReplicaLocked(rangeID, to)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.Put(keys.RaftReplicaID(rangeID), binary.BigEndian.AppendUint64(nil, to)); err != nil {
		return nil, err
	}
	if err := s.db.Write(b, &dkv.WriteOptions{Sync: true}); err != nil {
		s.fatal(err)
		s.mu.Lock()
		delete(s.mu.replicas, rangeID)
		s.mu.Unlock()
		return nil, err
	}
	return nr, nil
}

// removeReplica deletes a replica that left its range (see
// removeReplicaLocked).
func (s *Store) removeReplica(r *replica.Replica) error {
	s.lifecycle.Lock()
	defer s.lifecycle.Unlock()
	return s.removeReplicaLocked(r)
}

// removeReplicaLocked deletes a replica: it is stopped first (no worker
// runs it any more), then a tombstone keeps its ID (and older ones) from
// coming back, and its Raft state, replicated state and user keys are
// deleted, in one synced batch. s.lifecycle is held; a replica that is no
// longer the one registered for its range is left alone.
func (s *Store) removeReplicaLocked(r *replica.Replica) error {
	rangeID := r.RangeID()
	s.mu.RLock()
	current := s.mu.replicas[rangeID] == r
	s.mu.RUnlock()
	if !current {
		return nil // removed already (and perhaps replaced)
	}
	r.Stop()
	desc := r.Descriptor()
	b := s.db.NewBatch()
	defer b.Close()
	if err := putProto(b, keys.ReplicaTombstone(rangeID), &kvpb.ReplicaTombstone{NextReplicaId: r.ReplicaID() + 1}); err != nil {
		return err
	}
	if err := b.DeleteRange(keys.RangeIDPrefix(rangeID), keys.RangeIDPrefixEnd(rangeID)); err != nil {
		return err
	}
	if lo, hi := replica.UserSpan(desc); lo != nil {
		if err := b.DeleteRange(lo, hi); err != nil {
			return err
		}
	}
	if err := s.db.Write(b, &dkv.WriteOptions{Sync: true}); err != nil {
		s.fatal(err)
		return err
	}
	s.mu.Lock()
	delete(s.mu.replicas, rangeID)
	s.mu.Unlock()
	s.logger.Info("store: replica removed", "range", rangeID, "replica", r.ReplicaID())
	return nil
}

// peerMessage reports whether m is a message one replica may send
// another over the network, consistent with its envelope. raft trusts
// what it is stepped with, and some local or malformed messages make it
// panic (an empty proposal, a read index from nobody, a heartbeat context
// of the wrong size); a proposal from the network would be appended by a
// leader. Snapshots come on their own stream, never in a batch.
func peerMessage(rm *kvpb.RaftMessage, m *raftpb.Message) bool {
	switch m.GetType() {
	case raftpb.MsgApp, raftpb.MsgAppResp, raftpb.MsgVote, raftpb.MsgVoteResp,
		raftpb.MsgPreVote, raftpb.MsgPreVoteResp, raftpb.MsgHeartbeat,
		raftpb.MsgHeartbeatResp, raftpb.MsgTimeoutNow:
	default:
		return false
	}
	if m.GetFrom() == 0 || m.GetFrom() != rm.GetFrom().GetReplicaId() || m.GetFrom() == m.GetTo() || m.GetTerm() == 0 {
		return false
	}
	if m.GetType() == raftpb.MsgHeartbeat || m.GetType() == raftpb.MsgHeartbeatResp {
		if n := len(m.GetContext()); n != 0 && n != 8 {
			return false // read-index contexts are 8 bytes (read.go)
		}
	}
	return true
}

// HandleRaftBatch delivers a batch of messages from a peer to its replicas
// (transport.Handler).
func (s *Store) HandleRaftBatch(b *kvpb.RaftMessageBatch) {
	s.LearnAddr(b.GetFromNodeId(), b.GetFromAddr())
	s.heardMu.Lock()
	s.heard[b.GetFromNodeId()] = time.Now()
	s.heardTick[b.GetFromNodeId()] = s.ticks.Load()
	s.heardMu.Unlock()
	for _, rm := range b.GetMessages() {
		m := &raftpb.Message{}
		if err := proto.Unmarshal(rm.GetMessage(), m); err != nil {
			s.logger.Warn("store: undecodable raft message dropped", "from", b.GetFromNodeId(), "err", err)
			continue
		}
		if m.GetTo() != rm.GetTo().GetReplicaId() || m.GetTo() == 0 || !peerMessage(rm, m) {
			continue
		}
		// What a leader sends a new member creates its replica; so do
		// votes: the right side of a split campaigns at once, and its
		// replicas on nodes that have not applied the split yet must be
		// able to vote (an uninitialized replica has an empty log; the
		// split keeps the vote it gives: docs/ranges.md).
		create := m.GetType() == raftpb.MsgApp || m.GetType() == raftpb.MsgHeartbeat ||
			m.GetType() == raftpb.MsgVote || m.GetType() == raftpb.MsgPreVote
		r, err := s.replicaForMessage(rm.GetRangeId(), m.GetTo(), create)
		if err != nil || r == nil {
			continue
		}
		r.Step(rm.GetFrom(), m, rm.GetQuiesce() && m.GetType() == raftpb.MsgHeartbeat)
	}
}
