package raftlog

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/vfs"
)

// state is everything a Storage reports, for comparing before and after.
type state struct {
	first, last uint64
	hs          string
	terms       []uint64 // Term(first-1 .. last)
	ents        []string // Entries(first, last+1)
}

func stateOf(t *testing.T, s *Storage) state {
	t.Helper()
	var st state
	st.first, _ = s.FirstIndex()
	st.last, _ = s.LastIndex()
	hs, _, err := s.InitialState()
	require.NoError(t, err)
	st.hs = hs.String()
	for i := st.first - 1; i <= st.last; i++ {
		term, err := s.Term(i)
		require.NoError(t, err, "Term(%d)", i)
		st.terms = append(st.terms, term)
	}
	if st.last >= st.first {
		es, err := s.Entries(st.first, st.last+1, math.MaxUint64)
		require.NoError(t, err)
		for _, e := range es {
			st.ents = append(st.ents, e.String())
		}
	}
	return st
}

// TestOpenEmpty: a range with no keys is an uninitialized replica.
func TestOpenEmpty(t *testing.T) {
	db := openDB(t, vfs.NewMem())
	defer db.Close()
	s, err := Open(db, testRange)
	require.NoError(t, err)
	hs, cs, err := s.InitialState()
	require.NoError(t, err)
	require.True(t, raft.IsEmptyHardState(hs))
	require.Empty(t, cs.GetVoters())
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	require.Equal(t, uint64(1), first)
	require.Equal(t, uint64(0), last)
	term, err := s.Term(0)
	require.NoError(t, err)
	require.Zero(t, term)
	_, err = s.Term(1)
	require.Equal(t, raft.ErrUnavailable, err)
	_, err = s.Entries(1, 2, math.MaxUint64)
	require.Equal(t, raft.ErrUnavailable, err)
	_, err = s.Entries(0, 1, math.MaxUint64)
	require.Equal(t, raft.ErrCompacted, err)
	_, err = s.Snapshot()
	require.Equal(t, raft.ErrSnapshotTemporarilyUnavailable, err)
	require.True(t, proto.Equal(&kvpb.TruncatedState{}, s.TruncatedState()))
	as, err := LoadAppliedState(db, testRange)
	require.NoError(t, err)
	require.Nil(t, as)
}

// TestPendingNotVisible: what Append and Truncate write changes nothing the
// Storage reports — before the batch is written, and after it is written
// until Applied — including entries overwritten or deleted in the engine
// that the cache no longer held; a Pending whose batch is never written
// leaves nothing behind.
func TestPendingNotVisible(t *testing.T) {
	for _, cacheBytes := range []int64{-1, 1 << 10, DefaultCacheBytes} {
		t.Run("", func(t *testing.T) {
			fs := vfs.NewMem()
			db := openDB(t, fs)
			defer db.Close()
			bootstrap(t, db, testRange, 10, 5, 1)
			s, err := OpenWith(db, testRange, Options{CacheBytes: cacheBytes})
			require.NoError(t, err)
			appendSync(t, db, s, hardState(6, 1, 20), ents(11, 31, 6))
			setApplied(t, db, s, 20, 6)

			// check issues f's writes into a batch, checks the Storage is
			// unchanged before and after the write, then applies them.
			check := func(name string, f func(b *dkv.Batch) []Pending) {
				t.Helper()
				before := stateOf(t, s)
				b := db.NewBatch()
				defer b.Close()
				ps := f(b)
				require.Equal(t, before, stateOf(t, s), "%s: issued", name)
				require.NoError(t, db.Write(b, dkv.Sync))
				require.Equal(t, before, stateOf(t, s), "%s: written", name)
				for _, p := range ps {
					s.Applied(p)
				}
				require.NotEqual(t, before, stateOf(t, s), "%s: applied", name)
			}
			must := func(p Pending, err error) Pending {
				t.Helper()
				require.NoError(t, err)
				return p
			}
			check("extend", func(b *dkv.Batch) []Pending {
				return []Pending{must(s.Append(b, nil, ents(31, 41, 6)))}
			})
			check("hard state", func(b *dkv.Batch) []Pending {
				return []Pending{must(s.Append(b, hardState(7, 2, 25), nil))}
			})
			check("overwrite a suffix", func(b *dkv.Batch) []Pending {
				return []Pending{must(s.Append(b, hardState(7, 2, 26), ents(26, 30, 7)))}
			})
			check("overwrite twice in one batch", func(b *dkv.Batch) []Pending {
				return []Pending{
					must(s.Append(b, nil, ents(28, 35, 8))),
					must(s.Append(b, nil, ents(27, 29, 9))),
				}
			})
			check("truncate", func(b *dkv.Batch) []Pending {
				return []Pending{must(s.Truncate(b, 15))}
			})
			check("truncate twice and append", func(b *dkv.Batch) []Pending {
				return []Pending{
					must(s.Truncate(b, 17)),
					must(s.Append(b, nil, ents(29, 33, 9))),
					must(s.Truncate(b, 20)),
				}
			})
			final := stateOf(t, s)

			// Issued and never written: nothing reaches the engine; a
			// reopened Storage reports what this one did.
			b := db.NewBatch()
			_, err = s.Append(b, hardState(10, 3, 27), ents(28, 60, 10))
			require.NoError(t, err)
			b.Close()
			require.Equal(t, final, stateOf(t, s))
			require.NoError(t, db.Close())
			db = openDB(t, fs)
			s, err = OpenWith(db, testRange, Options{CacheBytes: cacheBytes})
			require.NoError(t, err)
			require.Equal(t, final, stateOf(t, s))
		})
	}
}

func TestAppendErrors(t *testing.T) {
	db := openDB(t, vfs.NewMem())
	defer db.Close()
	bootstrap(t, db, testRange, 10, 5, 1)
	s, err := Open(db, testRange)
	require.NoError(t, err)
	appendSync(t, db, s, hardState(5, 1, 12), ents(11, 16, 5))
	before := stateOf(t, s)
	gapped := append(ents(16, 18, 5), ents(19, 20, 5)...)
	for name, tc := range map[string]struct {
		hs *raftpb.HardState
		es []*raftpb.Entry
	}{
		"gap after the last index":         {nil, ents(17, 18, 5)},
		"entries not contiguous":           {nil, gapped},
		"term 0":                           {nil, ents(16, 17, 0)},
		"index 0":                          {nil, []*raftpb.Entry{{Index: new(uint64(0)), Term: new(uint64(5))}}},
		"commit past the last":             {hardState(5, 1, 17), ents(16, 17, 5)},
		"commit past the last, no entries": {hardState(5, 1, 16), nil},
	} {
		b := db.NewBatch()
		p, err := s.Append(b, tc.hs, tc.es)
		require.Error(t, err, name)
		require.True(t, p.IsZero(), name)
		b.Close()
	}
	require.Equal(t, before, stateOf(t, s))
	// The failures left nothing staged: a valid append still fits.
	appendSync(t, db, s, nil, ents(16, 17, 5))
	last, _ := s.LastIndex()
	require.Equal(t, uint64(16), last)

	// Entries below the first index are dropped, as MemoryStorage does.
	truncateSync(t, db, s, 12)
	appendSync(t, db, s, nil, ents(10, 14, 5))
	first, _ := s.FirstIndex()
	last, _ = s.LastIndex()
	require.Equal(t, []uint64{13, 13}, []uint64{first, last})
	b := db.NewBatch()
	defer b.Close()
	p, err := s.Append(b, nil, ents(5, 12, 5))
	require.NoError(t, err)
	require.True(t, p.IsZero(), "entries all compacted: nothing to do")
}

func TestTruncateErrors(t *testing.T) {
	db := openDB(t, vfs.NewMem())
	defer db.Close()
	bootstrap(t, db, testRange, 10, 5, 1)
	s, err := Open(db, testRange)
	require.NoError(t, err)
	appendSync(t, db, s, hardState(5, 1, 12), ents(11, 16, 5))
	b := db.NewBatch()
	defer b.Close()
	for _, i := range []uint64{0, 9, 10, 16, 100} {
		_, err := s.Truncate(b, i)
		require.Error(t, err, "Truncate(%d)", i)
	}
	p, err := s.Truncate(b, 15)
	require.NoError(t, err)
	_, err = s.Truncate(b, 15)
	require.Error(t, err, "a second truncation to the staged index")
	require.NoError(t, db.Write(b, dkv.Sync))
	s.Applied(p)
	require.Equal(t, uint64(15), s.TruncatedState().GetIndex())
	require.Equal(t, uint64(5), s.TruncatedState().GetTerm())
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	require.Equal(t, []uint64{16, 15}, []uint64{first, last}, "truncating the whole log leaves it empty")
	term, err := s.Term(15)
	require.NoError(t, err)
	require.Equal(t, uint64(5), term)
}

// TestMisusePanics: Applied out of order or twice, and ApplySnapshot with
// Pendings outstanding, are programmer's errors.
func TestMisusePanics(t *testing.T) {
	db := openDB(t, vfs.NewMem())
	defer db.Close()
	s, err := Open(db, testRange)
	require.NoError(t, err)
	b := db.NewBatch()
	defer b.Close()
	p1, err := s.Append(b, nil, ents(1, 3, 1))
	require.NoError(t, err)
	p2, err := s.Append(b, nil, ents(3, 4, 1))
	require.NoError(t, err)
	require.Panics(t, func() { s.Applied(p2) }, "out of order")
	require.Panics(t, func() {
		s.ApplySnapshot(&raftpb.SnapshotMetadata{Index: new(uint64(5)), Term: new(uint64(1))}, nil)
	}, "snapshot with pendings outstanding")
	require.NoError(t, db.Write(b, dkv.Sync))
	s.Applied(p1)
	require.Panics(t, func() { s.Applied(p1) }, "twice")
	s.Applied(p2)
	s.Applied(Pending{}) // the zero Pending is nothing to apply
	last, _ := s.LastIndex()
	require.Equal(t, uint64(3), last)
}

// TestApplySnapshot: the Storage reports the snapshot's state and drops
// what it cached; a reopened Storage reports the same from the engine.
func TestApplySnapshot(t *testing.T) {
	db := openDB(t, vfs.NewMem())
	defer db.Close()
	bootstrap(t, db, testRange, 10, 5, 1)
	s, err := Open(db, testRange)
	require.NoError(t, err)
	appendSync(t, db, s, hardState(5, 1, 12), ents(11, 30, 5))
	require.NotZero(t, s.Metrics().CacheEntries)

	hs := hardState(9, 2, 40)
	cs := &raftpb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}
	meta := &raftpb.SnapshotMetadata{Index: new(uint64(40)), Term: new(uint64(8)), ConfState: cs}
	write(t, db, true, func(b *dkv.Batch) {
		require.NoError(t, b.DeleteRange(keys.RangeIDPrefix(testRange), keys.RangeIDPrefixEnd(testRange)))
		require.NoError(t, WriteInitialState(b, testRange, hs, &kvpb.TruncatedState{Index: 40, Term: 8}))
		as, err := NewAppliedState(40, 8, cs, 10, 1)
		require.NoError(t, err)
		require.NoError(t, WriteAppliedState(b, testRange, as))
	})
	s.ApplySnapshot(meta, hs)
	require.Zero(t, s.Metrics().CacheEntries)
	for _, s := range []*Storage{s, mustOpen(t, db)} {
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		require.Equal(t, []uint64{41, 40}, []uint64{first, last})
		term, err := s.Term(40)
		require.NoError(t, err)
		require.Equal(t, uint64(8), term)
		_, err = s.Term(39)
		require.Equal(t, raft.ErrCompacted, err)
		gotHS, gotCS, err := s.InitialState()
		require.NoError(t, err)
		require.True(t, proto.Equal(hs, gotHS))
		require.Equal(t, cs.GetVoters(), gotCS.GetVoters())
		require.Equal(t, cs.GetLearners(), gotCS.GetLearners())
		snap, err := s.Snapshot()
		require.NoError(t, err)
		require.Nil(t, snap.GetData())
		require.Equal(t, uint64(40), snap.GetMetadata().GetIndex())
		require.Equal(t, uint64(8), snap.GetMetadata().GetTerm())
		require.Equal(t, cs.GetVoters(), snap.GetMetadata().GetConfState().GetVoters())
	}
	appendSync(t, db, s, hardState(9, 2, 41), ents(41, 43, 9))
	last, _ := s.LastIndex()
	require.Equal(t, uint64(42), last)
}

func mustOpen(t *testing.T, db *dkv.DB) *Storage {
	t.Helper()
	s, err := Open(db, testRange)
	require.NoError(t, err)
	return s
}

// TestCache: the Ready loop's reads (the entries just appended) come from
// the cache; the cache stays within its budget; older entries are read
// from the engine.
func TestCache(t *testing.T) {
	db := openDB(t, vfs.NewMem())
	defer db.Close()
	const budget = 32 << 10
	s, err := OpenWith(db, testRange, Options{CacheBytes: budget})
	require.NoError(t, err)
	var last uint64
	for i := range 200 {
		es := ents(last+1, last+4, 1)
		for _, e := range es {
			e.Data = make([]byte, 100*(i%7))
		}
		appendSync(t, db, s, hardState(1, 1, last), es)
		got, err := s.Entries(last+1, last+4, math.MaxUint64)
		require.NoError(t, err)
		require.Len(t, got, 3)
		for j := range got {
			require.Same(t, es[j], got[j], "served from the cache")
		}
		last += 3
		m := s.Metrics()
		require.LessOrEqual(t, m.CacheBytes, int64(budget))
		require.Zero(t, m.EngineReads, "the Ready loop reads what it just wrote")
	}
	m := s.Metrics()
	require.Positive(t, m.CacheHits)
	require.Less(t, m.CacheEntries, 600, "the cache evicted old entries")
	got, err := s.Entries(1, last+1, math.MaxUint64)
	require.NoError(t, err)
	require.Len(t, got, int(last))
	require.Positive(t, s.Metrics().EngineReads)
}

// TestTruncationDefersDeletion: a truncation gives up entries the engine
// keeps until the next truncation deletes them; Open ignores them.
func TestTruncationDefersDeletion(t *testing.T) {
	db := openDB(t, vfs.NewMem())
	defer db.Close()
	s, err := Open(db, testRange)
	require.NoError(t, err)
	appendSync(t, db, s, hardState(1, 1, 30), ents(1, 31, 1))
	setApplied(t, db, s, 30, 1)
	held := func() (n int) {
		it, err := db.NewIter(&dkv.IterOptions{LowerBound: keys.RaftLogPrefix(testRange), UpperBound: keys.RaftLog(testRange, math.MaxUint64)})
		require.NoError(t, err)
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		require.NoError(t, it.Error())
		return n
	}
	truncateSync(t, db, s, 10)
	require.Equal(t, 30, held())
	s2 := mustOpen(t, db)
	first, _ := s2.FirstIndex()
	require.Equal(t, uint64(11), first)
	require.Equal(t, stateOf(t, s), stateOf(t, s2))
	truncateSync(t, db, s2, 20)
	require.Equal(t, 20, held(), "entries 1-10 deleted")
	truncateSync(t, db, s2, 25)
	require.Equal(t, 10, held())
}

// corrupt writes value under key (nil: deletes key).
func corrupt(t *testing.T, db *dkv.DB, key, value []byte) {
	t.Helper()
	write(t, db, true, func(b *dkv.Batch) {
		if value == nil {
			require.NoError(t, b.Delete(key))
		} else {
			require.NoError(t, b.Put(key, value))
		}
	})
}

func requireCorruption(t *testing.T, err error, key []byte, msg string) {
	t.Helper()
	require.ErrorIs(t, err, dkv.ErrCorruption, msg)
	var ce *CorruptionError
	require.True(t, errors.As(err, &ce), "%s: %v is not a *CorruptionError", msg, err)
	require.Equal(t, key, ce.Key, "%s: %v", msg, err)
}

func marshal(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	return b
}

// TestOpenCorruption: every value Open reads that does not decode, or
// contradicts the rest of the state, fails Open with a *CorruptionError
// naming its key.
func TestOpenCorruption(t *testing.T) {
	hsKey, truncKey, asKey := keys.RaftHardState(testRange), keys.RaftTruncatedState(testRange), keys.RangeAppliedState(testRange)
	garbage := []byte{0xff, 0xff, 0xff}
	for name, tc := range map[string]struct {
		key, value []byte
		want       []byte // the key the error names; key when nil
	}{
		"hard state garbage":                {hsKey, garbage, nil},
		"hard state commit past last":       {hsKey, marshal(t, hardState(6, 1, 21)), nil},
		"hard state commit below truncated": {hsKey, marshal(t, hardState(6, 1, 9)), nil},
		"truncated state garbage":           {truncKey, garbage, nil},
		"truncated state term 0":            {truncKey, marshal(t, &kvpb.TruncatedState{Index: 10}), nil},
		"applied state garbage":             {asKey, garbage, nil},
		"applied state conf state garbage":  {asKey, marshal(t, &kvpb.AppliedState{Index: 10, Term: 5, ConfState: garbage}), nil},
		"applied below truncated":           {asKey, marshal(t, &kvpb.AppliedState{Index: 9, Term: 5}), nil},
		"applied past commit":               {asKey, marshal(t, &kvpb.AppliedState{Index: 18, Term: 6}), nil},
		"first entry garbage":               {keys.RaftLog(testRange, 11), garbage, nil},
		"last entry garbage":                {keys.RaftLog(testRange, 20), garbage, nil},
		"last entry of another index":       {keys.RaftLog(testRange, 20), marshal(t, ents(19, 20, 6)[0]), nil},
		"last entry term 0":                 {keys.RaftLog(testRange, 20), marshal(t, &raftpb.Entry{Index: new(uint64(20))}), nil},
		"first entry missing":               {keys.RaftLog(testRange, 11), nil, keys.RaftLog(testRange, 12)},
	} {
		t.Run(name, func(t *testing.T) {
			db := openDB(t, vfs.NewMem())
			defer db.Close()
			bootstrap(t, db, testRange, 10, 5, 1)
			s := mustOpen(t, db)
			appendSync(t, db, s, hardState(6, 1, 15), ents(11, 21, 6))
			corrupt(t, db, tc.key, tc.value)
			_, err := Open(db, testRange)
			want := tc.want
			if want == nil {
				want = tc.key
			}
			requireCorruption(t, err, want, name)
		})
	}
}

// TestReadCorruption: an entry that is damaged or missing inside the log
// is a *CorruptionError from Entries and Term, once past the cache.
func TestReadCorruption(t *testing.T) {
	for name, value := range map[string][]byte{
		"garbage":     {0x0a, 0xff},
		"other index": nil, // filled below
		"missing":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			db := openDB(t, vfs.NewMem())
			defer db.Close()
			s, err := OpenWith(db, testRange, Options{CacheBytes: -1})
			require.NoError(t, err)
			appendSync(t, db, s, hardState(1, 1, 10), ents(1, 11, 1))
			key := keys.RaftLog(testRange, 5)
			if name == "other index" {
				value = marshal(t, ents(4, 5, 1)[0])
			}
			corrupt(t, db, key, value)
			_, err = s.Entries(3, 8, math.MaxUint64)
			requireCorruption(t, err, key, name+": Entries")
			_, err = s.Term(5)
			requireCorruption(t, err, key, name+": Term")
			_, err = s.Entries(6, 8, math.MaxUint64)
			require.NoError(t, err, "the rest of the log reads")
			b := db.NewBatch()
			defer b.Close()
			_, err = s.Truncate(b, 5)
			requireCorruption(t, err, key, name+": Truncate's term")
			_, err = s.Append(b, nil, ents(4, 6, 2))
			requireCorruption(t, err, key, name+": Append keeping what it overwrites")
		})
	}
}
