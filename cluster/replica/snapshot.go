package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/confchange"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/raftlog"
	"github.com/distributedkv/dkv/sstable"
)

// Snapshot sizes and limits.
const (
	snapshotChunkBytes = 256 << 10
	// maxReplicatedBytes bounds the replicated range-ID keys a snapshot may
	// carry (they are held in memory until the snapshot is installed).
	maxReplicatedBytes = 64 << 20
	snapshotTimeout    = 10 * time.Minute
)

// incomingSnapshot is a received snapshot waiting for raft to accept it:
// its user keys already in a table in the aux directory, its few
// replicated range-ID keys in memory.
type incomingSnapshot struct {
	index      uint64
	term       uint64
	userTable  string
	replicated []*kvpb.KeyValue
	desc       *kvpb.RangeDescriptor
}

// sendSnapshot starts streaming a snapshot to replica m.To on node. The
// engine snapshot is taken now; the message's metadata is rewritten to
// match the applied state that engine snapshot holds. raftMu is held.
func (r *Replica) sendSnapshot(m *raftpb.Message, node uint64) {
	to := m.GetTo()
	r.mu.Lock()
	if r.mu.sending[to] {
		r.mu.Unlock()
		return
	}
	r.mu.sending[to] = true
	r.mu.Unlock()
	snap := r.cfg.DB.NewSnapshot()
	m = proto.Clone(m).(*raftpb.Message)
	r.cfg.Go(func() {
		err := r.streamSnapshot(snap, m, node)
		_ = snap.Close()
		if err != nil {
			r.cfg.Logger.Warn("replica: snapshot not sent", "range", r.cfg.RangeID, "to", to, "node", node, "err", err)
		}
		r.mu.Lock()
		delete(r.mu.sending, to)
		r.mu.reports = append(r.mu.reports, report{to: to, snapDone: err == nil, snapFailed: err != nil})
		r.mu.Unlock()
		r.cfg.Schedule()
	})
}

func (r *Replica) streamSnapshot(snap *dkv.Snapshot, m *raftpb.Message, node uint64) error {
	as, err := raftlog.LoadAppliedState(snap, r.cfg.RangeID)
	if err != nil {
		return err
	}
	desc, err := LoadDescriptor(snap, r.cfg.RangeID)
	if err != nil {
		return err
	}
	if as == nil || desc == nil {
		return fmt.Errorf("replica: range %d: no applied state to snapshot", r.cfg.RangeID)
	}
	cs := &raftpb.ConfState{}
	if err := proto.Unmarshal(as.GetConfState(), cs); err != nil {
		return fmt.Errorf("%w: range %d: conf state: %v", dkv.ErrCorruption, r.cfg.RangeID, err)
	}
	m.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
		Index: proto.Uint64(as.GetIndex()), Term: proto.Uint64(as.GetTerm()), ConfState: raftpb.EnsureConfState(cs),
	}}
	data, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	header := &kvpb.SnapshotHeader{
		ClusterId:  r.cfg.ClusterID,
		FromNodeId: r.cfg.NodeID,
		Message: &kvpb.RaftMessage{
			RangeId: r.cfg.RangeID,
			From:    &kvpb.ReplicaDescriptor{NodeId: r.cfg.NodeID, ReplicaId: r.cfg.ReplicaID},
			To:      &kvpb.ReplicaDescriptor{NodeId: node, ReplicaId: m.GetTo()},
			Message: data,
		},
		Range: desc,
	}
	src := &snapshotSource{snap: snap, spans: [][2][]byte{
		{keys.RangeReplicatedPrefix(r.cfg.RangeID), keys.RangeReplicatedEnd(r.cfg.RangeID)},
	}}
	if lo, hi := UserSpan(desc); lo != nil {
		src.spans = append(src.spans, [2][]byte{lo, hi})
	}
	defer src.close()
	ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
	defer cancel()
	return r.cfg.Sender.SendSnapshot(ctx, node, header, src)
}

// snapshotSource reads a range's keys from an engine snapshot in chunks.
type snapshotSource struct {
	snap  *dkv.Snapshot
	spans [][2][]byte
	it    *dkv.Iterator
}

func (s *snapshotSource) Next() ([]*kvpb.KeyValue, error) {
	var out []*kvpb.KeyValue
	size := 0
	for size < snapshotChunkBytes {
		if s.it == nil {
			if len(s.spans) == 0 {
				break
			}
			it, err := s.snap.NewIter(&dkv.IterOptions{LowerBound: s.spans[0][0], UpperBound: s.spans[0][1]})
			if err != nil {
				return nil, err
			}
			s.spans = s.spans[1:]
			s.it = it
			it.First()
		} else if !s.it.Valid() {
			err := s.it.Error()
			_ = s.it.Close()
			s.it = nil
			if err != nil {
				return nil, err
			}
			continue
		}
		if !s.it.Valid() {
			continue
		}
		k, v := bytes.Clone(s.it.Key()), bytes.Clone(s.it.Value())
		out = append(out, &kvpb.KeyValue{Key: k, Value: v})
		size += len(k) + len(v)
		s.it.Next()
	}
	if len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

func (s *snapshotSource) close() {
	if s.it != nil {
		_ = s.it.Close()
		s.it = nil
	}
}

// ReceiveSnapshot consumes an incoming snapshot stream for this replica:
// it writes the user keys into a table in the aux directory as they come,
// keeps the replicated range-ID keys, and then steps the MsgSnap into
// raft. It returns nil when the snapshot was received whole; raft decides
// in a later Ready whether to install it.
func (r *Replica) ReceiveSnapshot(header *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
	m := &raftpb.Message{}
	if err := proto.Unmarshal(header.GetMessage().GetMessage(), m); err != nil {
		return fmt.Errorf("replica: snapshot message: %w", err)
	}
	if m.GetType() != raftpb.MsgSnap || m.GetTo() != r.cfg.ReplicaID || m.GetSnapshot() == nil {
		return fmt.Errorf("replica: range %d: snapshot header is not a MsgSnap to replica %d", r.cfg.RangeID, r.cfg.ReplicaID)
	}
	desc := header.GetRange()
	if desc.GetRangeId() != r.cfg.RangeID {
		return fmt.Errorf("replica: snapshot of range %d sent to range %d", desc.GetRangeId(), r.cfg.RangeID)
	}
	if r.cfg.Overlaps != nil && r.cfg.Overlaps(desc) {
		return fmt.Errorf("replica: range %d: snapshot's keys overlap another replica on this node (a split not applied here yet); try later", r.cfg.RangeID)
	}
	index := m.GetSnapshot().GetMetadata().GetIndex()
	if st := r.Status(); index <= st.Applied && st.Descriptor != nil {
		// Nothing to install: this replica holds the state already (the
		// split that created it on this node put it at the index a leader
		// elected before that split applied here snapshots). raft answers
		// a snapshot at or below its commit index with an acknowledgement
		// of that index, which moves the leader's probe of this replica on
		// to appends; refusing it instead would make the leader probe from
		// the start of the log and send the same snapshot forever. The data
		// is read and dropped.
		for {
			if _, err := next(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return err
			}
		}
		m.Snapshot.Data = nil
		r.mu.Lock()
		r.mu.peers[m.GetFrom()] = header.GetMessage().GetFrom().GetNodeId()
		r.mu.inbox = append(r.mu.inbox, m)
		r.mu.quiesced = false
		r.mu.Unlock()
		r.cfg.Schedule()
		return nil
	}
	fs := r.cfg.FS
	if err := fs.MkdirAll(r.cfg.AuxDir, 0o755); err != nil {
		return err
	}
	path := fs.PathJoin(r.cfg.AuxDir, fmt.Sprintf("snap-r%d-i%d-%x.sst", r.cfg.RangeID, index, rand.Uint32()))
	f, err := fs.Create(path)
	if err != nil {
		return err
	}
	w := sstable.NewWriter(f, sstable.WriterOptions{})
	ok := false
	defer func() {
		if !ok {
			w.Abort()
			_ = fs.Remove(path)
		}
	}()
	lo, hi := UserSpan(desc)
	if lo != nil {
		if err := w.DeleteRange(lo, hi); err != nil {
			return err
		}
	}
	rlo, rhi := keys.RangeReplicatedPrefix(r.cfg.RangeID), keys.RangeReplicatedEnd(r.cfg.RangeID)
	var replicated []*kvpb.KeyValue
	replicatedBytes := 0
	var last []byte
	for {
		chunk, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		for _, kv := range chunk.GetKvs() {
			k := kv.GetKey()
			if last != nil && bytes.Compare(k, last) <= 0 {
				return fmt.Errorf("replica: range %d: snapshot keys out of order at %q", r.cfg.RangeID, k)
			}
			last = k
			switch {
			case len(k) > dkv.MaxKeySize || len(kv.GetValue()) > dkv.MaxValueSize:
				return fmt.Errorf("replica: range %d: snapshot key %q or its value exceeds the engine's limits", r.cfg.RangeID, k)
			case bytes.Compare(k, rlo) >= 0 && bytes.Compare(k, rhi) < 0:
				replicatedBytes += len(k) + len(kv.GetValue())
				if replicatedBytes > maxReplicatedBytes {
					return fmt.Errorf("replica: range %d: snapshot's replicated state exceeds %d bytes", r.cfg.RangeID, maxReplicatedBytes)
				}
				replicated = append(replicated, kv)
			case bytes.Compare(k, lo) >= 0 && bytes.Compare(k, hi) < 0:
				if err := w.Set(k, kv.GetValue()); err != nil {
					return err
				}
			default:
				return fmt.Errorf("replica: range %d: snapshot key %q outside the range", r.cfg.RangeID, k)
			}
		}
		if chunk.GetFinal() {
			break
		}
	}
	if err := r.checkSnapshot(m.GetSnapshot().GetMetadata(), desc, replicated); err != nil {
		return err
	}
	if _, err := w.Finish(); err != nil {
		return err
	}
	ok = true
	in := &incomingSnapshot{index: index, term: m.GetSnapshot().GetMetadata().GetTerm(), userTable: path, replicated: replicated, desc: desc}
	r.mu.Lock()
	old := r.mu.snaps[index]
	r.mu.snaps[index] = in
	r.mu.peers[m.GetFrom()] = header.GetMessage().GetFrom().GetNodeId()
	r.mu.inbox = append(r.mu.inbox, m)
	r.mu.Unlock()
	if old != nil {
		_ = fs.Remove(old.userTable)
	}
	r.cfg.Schedule()
	return nil
}

// checkSnapshot refuses a snapshot whose replicated state does not match
// its metadata, before raft sees it: once raft accepts a snapshot, the
// state machine must be able to become exactly what the metadata says.
func (r *Replica) checkSnapshot(meta *raftpb.SnapshotMetadata, desc *kvpb.RangeDescriptor, replicated []*kvpb.KeyValue) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("replica: range %d: snapshot at %d: %s", r.cfg.RangeID, meta.GetIndex(), fmt.Sprintf(format, args...))
	}
	var as *kvpb.AppliedState
	var cs *raftpb.ConfState
	var sdesc *kvpb.RangeDescriptor
	for _, kv := range replicated {
		switch string(kv.GetKey()) {
		case string(keys.RangeAppliedState(r.cfg.RangeID)):
			var err error
			if as, cs, err = raftlog.DecodeAppliedState(kv.GetKey(), kv.GetValue()); err != nil {
				return bad("%v", err)
			}
		case string(keys.RangeDescriptor(r.cfg.RangeID)):
			sdesc = &kvpb.RangeDescriptor{}
			if err := proto.Unmarshal(kv.GetValue(), sdesc); err != nil {
				return bad("descriptor: %v", err)
			}
		}
	}
	switch {
	case as == nil || sdesc == nil:
		return bad("no applied state or descriptor")
	case as.GetIndex() != meta.GetIndex() || as.GetTerm() != meta.GetTerm():
		return bad("applied state at %d/%d, metadata at %d/%d", as.GetIndex(), as.GetTerm(), meta.GetIndex(), meta.GetTerm())
	case !proto.Equal(sdesc, desc):
		return bad("the descriptor in the data differs from the header's")
	}
	if err := raftpb.EnsureConfState(cs).Equivalent(raftpb.EnsureConfState(meta.GetConfState())); err != nil {
		return bad("conf state: %v", err)
	}
	if _, _, err := confchange.Restore(confchange.Changer{Tracker: tracker.MakeProgressTracker(1, 0), LastIndex: 1}, meta.GetConfState()); err != nil {
		return bad("conf state: %v", err)
	}
	member := false
	for _, ids := range [][]uint64{cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext()} {
		member = member || slices.Contains(ids, r.cfg.ReplicaID)
	}
	if !member {
		return bad("replica %d is not a member of the snapshot's configuration", r.cfg.ReplicaID)
	}
	return nil
}

// installSnapshot replaces the replica's state by the snapshot raft
// accepted: its user keys (already in a table) and a second table holding
// every range-ID key — the snapshot's replicated keys, the new HardState,
// the replica ID and the truncated state — over a range deletion of the old
// ones, added with one Ingest so that a crash leaves the old replica or the
// new one. raftMu is held.
func (r *Replica) installSnapshot(snap *raftpb.Snapshot, hs *raftpb.HardState) error {
	meta := snap.GetMetadata()
	r.mu.Lock()
	in := r.mu.snaps[meta.GetIndex()]
	stale := r.dropSnapshotsLocked(meta.GetIndex())
	r.mu.Unlock()
	fs := r.cfg.FS
	for _, p := range stale {
		if in == nil || p != in.userTable {
			_ = fs.Remove(p)
		}
	}
	if in == nil || in.term != meta.GetTerm() {
		return fmt.Errorf("replica: range %d: raft accepted a snapshot at %d whose data is not here", r.cfg.RangeID, meta.GetIndex())
	}
	defer fs.Remove(in.userTable)
	if raft.IsEmptyHardState(hs) {
		hs = proto.Clone(r.storage.HardState()).(*raftpb.HardState)
	}
	if hs.GetCommit() < meta.GetIndex() {
		hs = proto.Clone(hs).(*raftpb.HardState)
		hs.Commit = proto.Uint64(meta.GetIndex())
	}
	path := fs.PathJoin(r.cfg.AuxDir, fmt.Sprintf("snap-r%d-i%d-%x-local.sst", r.cfg.RangeID, meta.GetIndex(), rand.Uint32()))
	if err := r.writeRangeIDTable(path, in, meta, hs); err != nil {
		_ = fs.Remove(path)
		return err
	}
	defer fs.Remove(path)
	if err := r.cfg.DB.Ingest([]string{in.userTable, path}); err != nil {
		return fmt.Errorf("replica: range %d: install snapshot at %d: %w", r.cfg.RangeID, meta.GetIndex(), err)
	}
	r.storage.ApplySnapshot(meta, hs)
	if err := r.sm.load(r.cfg.DB, r.cfg.RangeID); err != nil {
		return err
	}
	r.storage.SetApplied(r.sm.appliedIndex(), r.sm.applied.GetTerm(), r.sm.confState)
	r.lastLog = 0
	return nil
}

func (r *Replica) writeRangeIDTable(path string, in *incomingSnapshot, meta *raftpb.SnapshotMetadata, hs *raftpb.HardState) error {
	f, err := r.cfg.FS.Create(path)
	if err != nil {
		return err
	}
	w := sstable.NewWriter(f, sstable.WriterOptions{})
	fail := func(err error) error {
		w.Abort()
		return err
	}
	if err := w.DeleteRange(keys.RangeIDPrefix(r.cfg.RangeID), keys.RangeIDPrefixEnd(r.cfg.RangeID)); err != nil {
		return fail(err)
	}
	for _, kv := range in.replicated {
		if err := w.Set(kv.GetKey(), kv.GetValue()); err != nil {
			return fail(err)
		}
	}
	hsb, err := proto.Marshal(hs)
	if err != nil {
		return fail(err)
	}
	trunc, err := proto.Marshal(&kvpb.TruncatedState{Index: meta.GetIndex(), Term: meta.GetTerm()})
	if err != nil {
		return fail(err)
	}
	// 'uh' < 'ui' < 'ut': the unreplicated keys in order.
	for _, kv := range []struct{ k, v []byte }{
		{keys.RaftHardState(r.cfg.RangeID), hsb},
		{keys.RaftReplicaID(r.cfg.RangeID), uint64Bytes(r.cfg.ReplicaID)},
		{keys.RaftTruncatedState(r.cfg.RangeID), trunc},
	} {
		if err := w.Set(kv.k, kv.v); err != nil {
			return fail(err)
		}
	}
	_, err = w.Finish()
	return err
}

// dropSnapshotsLocked forgets the staged snapshots at or below index and
// returns their tables' paths. r.mu is held.
func (r *Replica) dropSnapshotsLocked(index uint64) []string {
	var paths []string
	for i, in := range r.mu.snaps {
		if i <= index {
			paths = append(paths, in.userTable)
			delete(r.mu.snaps, i)
		}
	}
	return paths
}

// dropStaleSnapshots removes the staged snapshots raft can no longer
// install (at or below the applied index). raftMu is held.
func (r *Replica) dropStaleSnapshots() {
	r.mu.Lock()
	paths := r.dropSnapshotsLocked(r.sm.appliedIndex())
	r.mu.Unlock()
	for _, p := range paths {
		_ = r.cfg.FS.Remove(p)
	}
}
