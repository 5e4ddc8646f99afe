package replica

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/raftlog"
	"github.com/distributedkv/dkv/cluster/transport"
	"github.com/distributedkv/dkv/vfs"
)

type nopSender struct{}

func (nopSender) Send(uint64, []*kvpb.RaftMessage) bool { return true }
func (nopSender) SendSnapshot(context.Context, uint64, *kvpb.SnapshotHeader, transport.SnapshotSource) error {
	return nil
}

// single is a one-voter range on an in-memory engine, processed by hand.
type single struct {
	db  *dkv.DB
	r   *Replica
	err error
}

func newSingle(t *testing.T) *single {
	t.Helper()
	fs := vfs.NewMem()
	db, err := dkv.Open("/db", &dkv.Options{FS: fs})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	const index, term = 10, 5
	b := db.NewBatch()
	require.NoError(t, raftlog.WriteInitialState(b, 1,
		&raftpb.HardState{Term: proto.Uint64(term), Commit: proto.Uint64(index)},
		&kvpb.TruncatedState{Index: index, Term: term}))
	as, err := raftlog.NewAppliedState(index, term, &raftpb.ConfState{Voters: []uint64{1}}, 0, 0)
	require.NoError(t, err)
	require.NoError(t, raftlog.WriteAppliedState(b, 1, as))
	require.NoError(t, putProto(b, keys.RangeDescriptor(1), &kvpb.RangeDescriptor{
		RangeId: 1, Epoch: &kvpb.RangeEpoch{ConfVer: 1, Version: 1},
		Replicas: []*kvpb.ReplicaDescriptor{{NodeId: 1, ReplicaId: 1}}, NextReplicaId: 2,
	}))
	require.NoError(t, b.Put(keys.RaftReplicaID(1), binary.BigEndian.AppendUint64(nil, 1)))
	require.NoError(t, b.Put(keys.RangeSystem(1, SystemNextNode), binary.BigEndian.AppendUint64(nil, 2)))
	require.NoError(t, db.Write(b, nil))
	s := &single{db: db}
	s.r, err = New(Config{
		NodeID: 1, RangeID: 1, ReplicaID: 1, DB: db, FS: fs, AuxDir: "/aux",
		Sender: nopSender{}, Schedule: func() {}, Fatal: func(err error) { s.err = err },
		Stopped: func() error { return s.err }, Go: func(f func()) { f() },
	})
	require.NoError(t, err)
	// Elect it: a single voter campaigns after an election timeout.
	for range 30 {
		s.r.Tick()
		require.NoError(t, s.r.Process())
	}
	require.Equal(t, "StateLeader", s.r.Status().RaftState)
	return s
}

func (s *single) process(t *testing.T) {
	for range 5 {
		require.NoError(t, s.r.Process())
	}
	require.NoError(t, s.err)
}

func cas(key string, old, new *string) *kvpb.Command {
	op := &kvpb.CompareAndSwapOp{Key: []byte(key)}
	if old != nil {
		op.Old = []byte(*old)
	}
	if new != nil {
		op.New = []byte(*new)
	}
	return &kvpb.Command{Op: &kvpb.Command_Cas{Cas: op}}
}

func ptr(s string) *string { return &s }

// Two CompareAndSwaps of one key proposed together commit and apply in
// one batch: the second must see the first's value, not the engine's.
func TestCompareAndSwapsInOneBatchSeeEachOther(t *testing.T) {
	s := newSingle(t)
	f1 := s.r.ProposeAsync(cas("k", nil, ptr("a")))
	f2 := s.r.ProposeAsync(cas("k", ptr("a"), ptr("b")))
	f3 := s.r.ProposeAsync(cas("k", ptr("a"), ptr("c"))) // sees "b": refused
	applied := s.r.Status().Applied
	require.NoError(t, s.r.Process()) // one Process: one Ready appends, the next applies all three
	for i, f := range []*Future{f1, f2, f3} {
		select {
		case <-f.Done():
		default:
			t.Fatalf("proposal %d not applied after one Process", i+1)
		}
	}
	require.Equal(t, applied+3, s.r.Status().Applied)
	r1, err := f1.Result()
	require.NoError(t, err)
	r2, err := f2.Result()
	require.NoError(t, err)
	r3, err := f3.Result()
	require.NoError(t, err)
	require.True(t, r1.Swapped)
	require.True(t, r2.Swapped, "the second CAS must see the first's write in the same batch")
	require.False(t, r3.Swapped)
	v, err := s.db.Get(keys.User([]byte("k")))
	require.NoError(t, err)
	require.Equal(t, "b", string(v))
	st := s.r.Status()
	require.Equal(t, int64(1), st.LiveKeys)
	require.Equal(t, int64(len("k")+len("b")), st.LiveBytes)
}

// A conf change whose epoch is stale when it applies is handed to raft as
// a change of NodeID 0: raft's configuration and the descriptor stay as
// they were, nothing panics, and the applied index moves past it.
func TestStaleConfChangeAppliedAsNoop(t *testing.T) {
	s := newSingle(t)
	cctx := &kvpb.ConfChangeContext{Id: 42, Epoch: &kvpb.RangeEpoch{ConfVer: 0 /* stale */},
		Replicas: []*kvpb.ReplicaDescriptor{{NodeId: 2, ReplicaId: 2}}}
	data, err := proto.Marshal(cctx)
	require.NoError(t, err)
	cc := &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(2)}}, Context: data}
	// Straight to raft, past the check a proposal normally gets.
	s.r.raftMu.Lock()
	require.NoError(t, s.r.rn.ProposeConfChange(cc))
	s.r.raftMu.Unlock()
	before := s.r.Status().Applied
	s.process(t)
	st := s.r.Status()
	require.Greater(t, st.Applied, before)
	require.Equal(t, uint64(1), st.Descriptor.GetEpoch().GetConfVer())
	require.Len(t, st.Descriptor.GetReplicas(), 1)
	s.r.raftMu.Lock()
	cfg := s.r.rn.Status().Config
	s.r.raftMu.Unlock()
	require.Empty(t, cfg.Learners, "raft must not have applied the refused change")

	// A current change goes through.
	d, err := changeAndProcess(s.r, &kvpb.ReplicaChange{Type: kvpb.ReplicaChangeType_ADD_LEARNER, NodeId: 2})
	require.NoError(t, err)
	role := d.GetReplicas()[1]
	require.Equal(t, uint64(2), role.GetNodeId())
	require.Equal(t, kvpb.ReplicaRole_LEARNER, role.GetRole())
	require.Equal(t, uint64(2), d.GetEpoch().GetConfVer())
}

// changeAndProcess proposes a change and processes the replica until it
// applies.
func changeAndProcess(r *Replica, ch *kvpb.ReplicaChange) (*kvpb.RangeDescriptor, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var d *kvpb.RangeDescriptor
	var err error
	go func() {
		defer close(done)
		d, err = r.ChangeReplicas(ctx, 0, []*kvpb.ReplicaChange{ch})
	}()
	for {
		select {
		case <-done:
			return d, err
		default:
		}
		_ = r.Process()
	}
}

// A join retried with its token (its first answer was lost) gets the ID
// the first attempt allocated; another token gets the next one.
func TestJoinWithTheSameTokenGetsTheSameID(t *testing.T) {
	s := newSingle(t)
	join := func(token uint64) uint64 {
		f := s.r.ProposeAsync(&kvpb.Command{Op: &kvpb.Command_JoinNode{JoinNode: &kvpb.JoinNodeOp{Addr: "x:1", JoinToken: token}}})
		s.process(t)
		res, err := f.Result()
		require.NoError(t, err)
		return res.NodeID
	}
	a := join(77)
	require.Equal(t, uint64(2), a)
	require.Equal(t, a, join(77), "a retry with the same token")
	require.Equal(t, uint64(3), join(78))
	require.Equal(t, uint64(4), join(0), "no token: a new ID every time")
	require.Equal(t, uint64(5), join(0))
}

// A snapshot whose replicated state disagrees with its metadata is
// refused before raft sees it.
func TestSnapshotMustMatchItsMetadata(t *testing.T) {
	s := newSingle(t)
	desc := s.r.Descriptor()
	as, err := raftlog.NewAppliedState(100, 6, &raftpb.ConfState{Voters: []uint64{1}}, 0, 0)
	require.NoError(t, err)
	asb, err := raftlog.EncodeAppliedState(as)
	require.NoError(t, err)
	db, err := proto.Marshal(desc)
	require.NoError(t, err)
	kvs := []*kvpb.KeyValue{{Key: keys.RangeAppliedState(1), Value: asb}, {Key: keys.RangeDescriptor(1), Value: db}}
	meta := func(index, term uint64, voters ...uint64) *raftpb.SnapshotMetadata {
		return &raftpb.SnapshotMetadata{Index: proto.Uint64(index), Term: proto.Uint64(term), ConfState: &raftpb.ConfState{Voters: voters}}
	}
	require.NoError(t, s.r.checkSnapshot(meta(100, 6, 1), desc, kvs))
	require.Error(t, s.r.checkSnapshot(meta(101, 6, 1), desc, kvs), "index")
	require.Error(t, s.r.checkSnapshot(meta(100, 7, 1), desc, kvs), "term")
	require.Error(t, s.r.checkSnapshot(meta(100, 6, 1, 2), desc, kvs), "conf state")
	require.Error(t, s.r.checkSnapshot(meta(100, 6, 1), &kvpb.RangeDescriptor{RangeId: 1}, kvs), "descriptor")
	require.Error(t, s.r.checkSnapshot(meta(100, 6, 1), desc, kvs[1:]), "no applied state")
	other, err := raftlog.NewAppliedState(100, 6, &raftpb.ConfState{Voters: []uint64{2}}, 0, 0)
	require.NoError(t, err)
	ob, err := raftlog.EncodeAppliedState(other)
	require.NoError(t, err)
	require.Error(t, s.r.checkSnapshot(meta(100, 6, 2), desc, []*kvpb.KeyValue{{Key: keys.RangeAppliedState(1), Value: ob}, kvs[1]}),
		"a recipient outside the configuration")
}
