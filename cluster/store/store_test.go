package store

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
	"github.com/distributedkv/dkv/vfs"
)

func openBootstrapped(t *testing.T, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open(Config{Dir: "/n1", FS: fs})
	require.NoError(t, err)
	members := []*kvpb.NodeRecord{{NodeId: 1, Addr: "a:1"}, {NodeId: 2, Addr: "a:2"}, {NodeId: 3, Addr: "a:3"}}
	require.NoError(t, s.Bootstrap(&kvpb.StoreIdent{ClusterId: ClusterIDFor(members), NodeId: 1, Addr: "a:1", AdvertiseAddr: "a:1"}, members))
	return s
}

func rawMessage(t *testing.T, rangeID uint64, m *raftpb.Message) *kvpb.RaftMessage {
	data, err := proto.Marshal(m)
	require.NoError(t, err)
	return &kvpb.RaftMessage{RangeId: rangeID, From: &kvpb.ReplicaDescriptor{NodeId: 2, ReplicaId: m.GetFrom()},
		To: &kvpb.ReplicaDescriptor{NodeId: 1, ReplicaId: m.GetTo()}, Message: data}
}

// Messages a peer may not send never reach raft (some make it panic, a
// proposal would be appended by a leader), and none creates a replica.
func TestForbiddenPeerMessagesAreDropped(t *testing.T) {
	s := openBootstrapped(t, vfs.NewMem())
	defer s.Close()
	bad := []*raftpb.Message{
		{Type: raftpb.MsgProp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(5)},
		{Type: raftpb.MsgReadIndex.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(5)},
		{Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(5)},
		{Type: raftpb.MsgHeartbeatResp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(5), Context: []byte{1, 2, 3}},
		{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(0), To: proto.Uint64(1), Term: proto.Uint64(5)},
		{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(1), Term: proto.Uint64(5)},
		{Type: raftpb.MsgHup.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(5)},
	}
	for _, m := range bad {
		rm := rawMessage(t, 1, m)
		require.False(t, peerMessage(rm, m), "%v", m)
		s.HandleRaftBatch(&kvpb.RaftMessageBatch{FromNodeId: 2, ToNodeId: 1, Messages: []*kvpb.RaftMessage{rm}})
	}
	// A message to a range that does not exist, with replica ID 0, or to
	// range 0 creates nothing.
	s.HandleRaftBatch(&kvpb.RaftMessageBatch{FromNodeId: 2, ToNodeId: 1, Messages: []*kvpb.RaftMessage{
		rawMessage(t, 0, &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(2), To: proto.Uint64(7), Term: proto.Uint64(1)}),
		rawMessage(t, 9, &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(2), To: proto.Uint64(0), Term: proto.Uint64(1)}),
	}})
	require.Len(t, s.Replicas(), 2)
	for range 5 {
		s.ProcessPending(4)
	}
	require.Equal(t, "StateFollower", s.Replica(1).Status().RaftState)
	good := &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(6), Commit: proto.Uint64(10)}
	require.True(t, peerMessage(rawMessage(t, 1, good), good))
}

// A snapshot stream whose header is not a MsgSnap to a real replica ID is
// refused, and leaves nothing behind (it used to write a replica ID of 0
// that made every later start panic).
func TestSnapshotHeaderToReplicaZeroRefused(t *testing.T) {
	fs := vfs.NewMem()
	s := openBootstrapped(t, fs)
	m := &raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(2), To: proto.Uint64(0), Term: proto.Uint64(6),
		Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(50), Term: proto.Uint64(6)}}}
	next := func() (*kvpb.SnapshotChunk, error) { return nil, io.EOF }
	err := s.HandleSnapshot(context.Background(), &kvpb.SnapshotHeader{Message: rawMessage(t, 7, m)}, next)
	require.Error(t, err)
	_, err = s.DB().Get(keys.RaftReplicaID(7))
	require.True(t, errors.Is(err, dkv.ErrNotFound))
	require.NoError(t, s.Close())
	s2, err := Open(Config{Dir: "/n1", FS: fs})
	require.NoError(t, err)
	require.Len(t, s2.Replicas(), 2)
	require.NoError(t, s2.Close())
}

// After Close, a request fails at once instead of waiting for its
// deadline.
func TestRequestsAfterCloseFailFast(t *testing.T) {
	s := openBootstrapped(t, vfs.NewMem())
	r := s.Replica(FirstUserRangeID)
	require.NoError(t, s.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := r.Propose(ctx, &kvpb.Command{Op: &kvpb.Command_Put{Put: &kvpb.PutOp{Key: []byte("k")}}})
	require.Error(t, err)
	require.Less(t, time.Since(start), 20*time.Second)
}

// A directory written by an older key layout (format version 1: no
// version in the identity) is refused with an error that says so (a node
// refuses it before opening the engine to write: server's preflight); the
// bootstrap writes the current version, and a store starts with the
// placement group and the user key space.
func TestFormatVersion(t *testing.T) {
	fs := vfs.NewMem()
	s := openBootstrapped(t, fs)
	require.EqualValues(t, FormatVersion, s.Ident().GetFormatVersion())
	ids := []uint64{}
	for _, r := range s.Replicas() {
		ids = append(ids, r.RangeID())
	}
	require.Equal(t, []uint64{PlacementRangeID, FirstUserRangeID}, ids)
	require.True(t, s.Replica(PlacementRangeID).Descriptor().GetPlacement())
	require.False(t, replica.ContainsKey(s.Replica(PlacementRangeID).Descriptor(), []byte("k")))
	require.True(t, replica.ContainsKey(s.Replica(FirstUserRangeID).Descriptor(), []byte("k")))

	// Rewrite the identity as version 1 wrote it.
	old := s.Ident()
	old.FormatVersion = 0
	b := s.DB().NewBatch()
	v, err := proto.Marshal(old)
	require.NoError(t, err)
	require.NoError(t, b.Put(keys.StoreIdent, v))
	require.NoError(t, s.DB().Write(b, &dkv.WriteOptions{Sync: true}))
	b.Close()
	require.NoError(t, s.Close())

	_, err = Open(Config{Dir: "/n1", FS: fs})
	require.Error(t, err)
	require.Contains(t, err.Error(), "format version 1")
	require.Contains(t, err.Error(), "reads version 2 only")
	_, err = Open(Config{Dir: "/n1", FS: fs})
	require.ErrorContains(t, err, "format version 1")
}
