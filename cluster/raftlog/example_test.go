package raftlog_test

import (
	"fmt"
	"math"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/raftlog"
	"github.com/distributedkv/dkv/vfs"
)

// A replica bootstrapped with a log that starts after index 10 persists a
// Ready's entries and HardState in one synced batch, and only then does
// the Storage report them.
func Example() {
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem()})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	const rangeID = 1

	// Bootstrap: HardState, truncated state and applied state at 10.
	b := db.NewBatch()
	hs := &raftpb.HardState{Term: new(uint64(5)), Commit: new(uint64(10))}
	if err := raftlog.WriteInitialState(b, rangeID, hs, &kvpb.TruncatedState{Index: 10, Term: 5}); err != nil {
		panic(err)
	}
	as, _ := raftlog.NewAppliedState(10, 5, &raftpb.ConfState{Voters: []uint64{1}}, 0, 0)
	if err := raftlog.WriteAppliedState(b, rangeID, as); err != nil {
		panic(err)
	}
	if err := db.Write(b, dkv.Sync); err != nil {
		panic(err)
	}
	b.Close()

	s, err := raftlog.Open(db, rangeID)
	if err != nil {
		panic(err)
	}

	// A Ready: two entries and a new HardState.
	entries := []*raftpb.Entry{
		{Index: new(uint64(11)), Term: new(uint64(6)), Data: []byte("a")},
		{Index: new(uint64(12)), Term: new(uint64(6)), Data: []byte("b")},
	}
	b = db.NewBatch()
	p, err := s.Append(b, &raftpb.HardState{Term: new(uint64(6)), Vote: new(uint64(1)), Commit: new(uint64(12))}, entries)
	if err != nil {
		panic(err)
	}
	last, _ := s.LastIndex()
	fmt.Println("before Applied, last index", last)
	if err := db.Write(b, dkv.Sync); err != nil {
		panic(err)
	}
	b.Close()
	s.Applied(p)
	last, _ = s.LastIndex()
	fmt.Println("after Applied, last index", last)

	es, _ := s.Entries(11, 13, math.MaxUint64)
	for _, e := range es {
		fmt.Printf("%d/%d %s\n", e.GetIndex(), e.GetTerm(), e.GetData())
	}
	fmt.Println("commit", s.HardState().GetCommit())
	// Output:
	// before Applied, last index 10
	// after Applied, last index 12
	// 11/6 a
	// 12/6 b
	// commit 12
}
