package raftlog

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/vfs"
)

const testRange = 7

// dbOptions are small, so that tests flush and compact: the log is read
// from tables and range tombstones, not only from the memtable.
func dbOptions(fs vfs.FS) *dkv.Options {
	return &dkv.Options{FS: fs, MemTableSize: 64 << 10}
}

func openDB(t testing.TB, fs vfs.FS) *dkv.DB {
	t.Helper()
	db, err := dkv.Open("/db", dbOptions(fs))
	require.NoError(t, err)
	return db
}

// write writes the batch that fill fills, synced or not.
func write(t testing.TB, db *dkv.DB, sync bool, fill func(b *dkv.Batch)) {
	t.Helper()
	b := db.NewBatch()
	defer b.Close()
	fill(b)
	require.NoError(t, db.Write(b, &dkv.WriteOptions{Sync: sync}))
}

// bootstrap writes the state docs/cluster.md's bootstrap writes for a
// range: truncated and applied state at index, term, a HardState
// committing index, and voters.
func bootstrap(t testing.TB, db *dkv.DB, rangeID, index, term uint64, voters ...uint64) {
	t.Helper()
	write(t, db, true, func(b *dkv.Batch) {
		require.NoError(t, WriteInitialState(b, rangeID,
			&raftpb.HardState{Term: new(term), Commit: new(index)},
			&kvpb.TruncatedState{Index: index, Term: term}))
		as, err := NewAppliedState(index, term, &raftpb.ConfState{Voters: voters}, 0, 0)
		require.NoError(t, err)
		require.NoError(t, WriteAppliedState(b, rangeID, as))
	})
}

// ents returns entries [lo, hi) of term with small payloads.
func ents(lo, hi, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i < hi; i++ {
		out = append(out, &raftpb.Entry{Index: new(i), Term: new(term), Type: raftpb.EntryNormal.Enum(), Data: []byte{byte(i), byte(term)}})
	}
	return out
}

// appendSync appends through s in its own synced batch and applies it.
func appendSync(t testing.TB, db *dkv.DB, s *Storage, hs *raftpb.HardState, es []*raftpb.Entry) {
	t.Helper()
	var p Pending
	write(t, db, true, func(b *dkv.Batch) {
		var err error
		p, err = s.Append(b, hs, es)
		require.NoError(t, err)
	})
	s.Applied(p)
}

// truncateSync truncates through s in its own synced batch and applies it.
func truncateSync(t testing.TB, db *dkv.DB, s *Storage, index uint64) {
	t.Helper()
	var p Pending
	write(t, db, true, func(b *dkv.Batch) {
		var err error
		p, err = s.Truncate(b, index)
		require.NoError(t, err)
	})
	s.Applied(p)
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

// setApplied writes the applied state (as the replica's apply batch does)
// and tells s.
func setApplied(t testing.TB, db *dkv.DB, s *Storage, index, term uint64) {
	t.Helper()
	write(t, db, false, func(b *dkv.Batch) {
		as, err := NewAppliedState(index, term, &raftpb.ConfState{Voters: []uint64{1}}, 0, 0)
		require.NoError(t, err)
		require.NoError(t, WriteAppliedState(b, testRange, as))
	})
	s.SetApplied(index, term, nil)
}
