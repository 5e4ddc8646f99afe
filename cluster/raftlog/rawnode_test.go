package raftlog

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// node is a single-voter raft group persisting every Ready through a
// Storage, the way docs/cluster.md's Ready loop does: entries and
// HardState in one synced batch, then the committed entries applied with
// the applied state in one unsynced batch, and truncation behind the
// applied index.
type node struct {
	t       *testing.T
	db      *dkv.DB
	s       *Storage
	rn      *raft.RawNode
	cs      *raftpb.ConfState
	applied []string // the data of the normal entries applied, in order
	tail    uint64   // entries kept behind the applied index when truncating
}

func startNode(t *testing.T, db *dkv.DB) *node {
	s, err := Open(db, testRange)
	require.NoError(t, err)
	index, _ := s.AppliedIndex()
	_, cs, err := s.InitialState()
	require.NoError(t, err)
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              1,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         s,
		Applied:         index,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		Logger:          quietLogger{},
	})
	require.NoError(t, err)
	return &node{t: t, db: db, s: s, rn: rn, cs: cs, tail: 8}
}

// drain handles Readys until there are none.
func (n *node) drain() {
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		require.True(n.t, raft.IsEmptySnap(rd.Snapshot), "a single voter gets no snapshot")
		var p Pending
		write(n.t, n.db, true, func(b *dkv.Batch) {
			var err error
			p, err = n.s.Append(b, rd.HardState, rd.Entries)
			require.NoError(n.t, err)
		})
		n.s.Applied(p)
		require.Empty(n.t, rd.Messages, "a single voter sends nothing")

		if len(rd.CommittedEntries) > 0 {
			for _, e := range rd.CommittedEntries {
				switch e.GetType() {
				case raftpb.EntryNormal:
					if len(e.GetData()) > 0 {
						n.applied = append(n.applied, string(e.GetData()))
					}
				case raftpb.EntryConfChange:
					var cc raftpb.ConfChange
					require.NoError(n.t, proto.Unmarshal(e.GetData(), &cc))
					n.cs = n.rn.ApplyConfChange(&cc)
				case raftpb.EntryConfChangeV2:
					var cc raftpb.ConfChangeV2
					require.NoError(n.t, proto.Unmarshal(e.GetData(), &cc))
					n.cs = n.rn.ApplyConfChange(&cc)
				}
			}
			last := rd.CommittedEntries[len(rd.CommittedEntries)-1]
			write(n.t, n.db, false, func(b *dkv.Batch) {
				as, err := NewAppliedState(last.GetIndex(), last.GetTerm(), n.cs, 0, int64(len(n.applied)))
				require.NoError(n.t, err)
				require.NoError(n.t, WriteAppliedState(b, testRange, as))
			})
			n.s.SetApplied(last.GetIndex(), last.GetTerm(), n.cs)
		}
		n.rn.Advance(rd)

		applied, _ := n.s.AppliedIndex()
		first, _ := n.s.FirstIndex()
		if applied >= first+2*n.tail {
			truncateSync(n.t, n.db, n.s, applied-n.tail)
		}
	}
}

func (n *node) campaign() {
	require.NoError(n.t, n.rn.Campaign())
	n.drain()
	require.Equal(n.t, raft.StateLeader, n.rn.Status().RaftState)
}

func (n *node) propose(data string) {
	require.NoError(n.t, n.rn.Propose([]byte(data)))
	n.drain()
}

// logged returns the data of the normal entries the Storage holds.
func (n *node) logged() []string {
	first, _ := n.s.FirstIndex()
	last, _ := n.s.LastIndex()
	if last < first {
		return nil
	}
	es, err := n.s.Entries(first, last+1, math.MaxUint64)
	require.NoError(n.t, err)
	var out []string
	for _, e := range es {
		if e.GetType() == raftpb.EntryNormal && len(e.GetData()) > 0 {
			out = append(out, string(e.GetData()))
		}
	}
	return out
}

// TestRawNode runs a real raft.RawNode over a Storage: a single voter
// elects itself, commits and applies proposals, truncates its log, and
// after the engine is closed and reopened comes back with the same log,
// HardState and applied state and goes on. A group bootstrapped by the
// cluster's initial state (a log that starts after index 10) and one
// bootstrapped by raft (RawNode.Bootstrap on an empty Storage) both work.
func TestRawNode(t *testing.T) {
	for _, how := range []string{"initial state", "raft bootstrap"} {
		t.Run(how, func(t *testing.T) {
			fs := vfs.NewMem()
			db := openDB(t, fs)
			if how == "initial state" {
				bootstrap(t, db, testRange, 10, 5, 1)
			}
			n := startNode(t, db)
			if how == "raft bootstrap" {
				require.NoError(t, n.rn.Bootstrap([]raft.Peer{{ID: 1}}))
				n.drain()
			}
			n.campaign()
			var want []string
			for i := range 60 {
				data := fmt.Sprintf("proposal %d", i)
				n.propose(data)
				want = append(want, data)
			}
			require.Equal(t, want, n.applied)
			require.Zero(t, n.s.Metrics().EngineReads, "the Ready loop reads only what the cache holds")
			first, _ := n.s.FirstIndex()
			require.Greater(t, first, uint64(20), "the log was truncated")
			logged := n.logged()
			require.Equal(t, want[len(want)-len(logged):], logged, "the log holds the newest proposals")
			hs := n.s.HardState()
			lastIndex, _ := n.s.LastIndex()
			require.Equal(t, lastIndex, hs.GetCommit())

			// Restart from the engine.
			require.NoError(t, db.Close())
			db = openDB(t, fs)
			defer db.Close()
			n2 := startNode(t, db)
			require.Equal(t, logged, n2.logged())
			require.True(t, proto.Equal(hs, n2.s.HardState()), "HardState %v, want %v", n2.s.HardState(), hs)
			require.Equal(t, []uint64{1}, n2.cs.GetVoters())
			n2.campaign()
			for i := range 20 {
				data := fmt.Sprintf("after restart %d", i)
				n2.propose(data)
				want = append(want, data)
			}
			require.Equal(t, want[60:], n2.applied, "only the new proposals are applied again")
			logged = n2.logged()
			require.Equal(t, want[len(want)-len(logged):], logged)
			require.Greater(t, n2.s.HardState().GetTerm(), hs.GetTerm())
		})
	}
}

// quietLogger drops raft's log lines and panics on its panics.
type quietLogger struct{}

func (quietLogger) Debug(...any)              {}
func (quietLogger) Debugf(string, ...any)     {}
func (quietLogger) Error(...any)              {}
func (quietLogger) Errorf(string, ...any)     {}
func (quietLogger) Info(...any)               {}
func (quietLogger) Infof(string, ...any)      {}
func (quietLogger) Warning(...any)            {}
func (quietLogger) Warningf(string, ...any)   {}
func (quietLogger) Fatal(v ...any)            { panic(fmt.Sprint(v...)) }
func (quietLogger) Fatalf(f string, v ...any) { panic(fmt.Sprintf(f, v...)) }
func (quietLogger) Panic(v ...any)            { panic(fmt.Sprint(v...)) }
func (quietLogger) Panicf(f string, v ...any) { panic(fmt.Sprintf(f, v...)) }
