package replica

import (
	"errors"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/kvpb"
)

// FuzzCommittedEntry applies arbitrary bytes as a committed entry — a
// command, or a conf change — to a one-voter range: the replica either
// applies it (a refusal is a result, the same on every replica) or reports
// corruption. It never panics, and a refused conf change leaves raft's
// configuration as it was.
func FuzzCommittedEntry(f *testing.F) {
	put, _ := proto.Marshal(&kvpb.Command{Id: 1, Op: &kvpb.Command_Put{Put: &kvpb.PutOp{Key: []byte("k"), Value: []byte("v")}}})
	cas, _ := proto.Marshal(&kvpb.Command{Id: 2, Epoch: &kvpb.RangeEpoch{Version: 9}, Op: &kvpb.Command_Cas{Cas: &kvpb.CompareAndSwapOp{Key: []byte("k")}}})
	join, _ := proto.Marshal(&kvpb.Command{Op: &kvpb.Command_JoinNode{JoinNode: &kvpb.JoinNodeOp{Addr: "x:1"}}})
	cctx, _ := proto.Marshal(&kvpb.ConfChangeContext{Epoch: &kvpb.RangeEpoch{ConfVer: 1}, Replicas: []*kvpb.ReplicaDescriptor{{NodeId: 2, ReplicaId: 2}}})
	cc, _ := proto.Marshal(&raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(2)}}, Context: cctx})
	rm, _ := proto.Marshal(&raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(1)}}, Context: cctx})
	f.Add(uint8(0), put)
	f.Add(uint8(0), cas)
	f.Add(uint8(0), join)
	f.Add(uint8(2), cc)
	f.Add(uint8(2), rm)
	f.Add(uint8(1), []byte{0xff, 0x01})
	f.Add(uint8(0), []byte{0x0a, 0x80})
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		s := newSingle(t)
		s.r.raftMu.Lock()
		defer s.r.raftMu.Unlock()
		next := s.r.sm.appliedIndex() + 1
		e := &raftpb.Entry{
			Index: proto.Uint64(next), Term: proto.Uint64(s.r.sm.applied.GetTerm()),
			Type: raftpb.EntryType(typ % 3).Enum(), Data: data,
		}
		before := s.r.rn.Status().Config.String()
		err := s.r.applyEntries([]*raftpb.Entry{e})
		if err != nil && !errors.Is(err, dkv.ErrCorruption) {
			t.Fatalf("apply: %v (want success or corruption)", err)
		}
		if err == nil && s.r.sm.appliedIndex() != next {
			t.Fatalf("applied index %d, want %d", s.r.sm.appliedIndex(), next)
		}
		if s.r.sm.desc.GetEpoch().GetConfVer() == 1 && s.r.rn.Status().Config.String() != before {
			t.Fatalf("raft's configuration changed (%s → %s) but the descriptor did not", before, s.r.rn.Status().Config.String())
		}
	})
}
