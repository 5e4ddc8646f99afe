package raftlog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
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

// modelHarness drives a Storage and raft's MemoryStorage through the same
// random operations, keeping raft's invariants (committed entries are
// never overwritten; applied ≤ commit; truncation ≤ applied), and compares
// every raft.Storage answer.
//
// Two MemoryStorages model the two states of the Storage: vis gets each
// operation when its Pending is Applied (what the Storage must report),
// stg when it is issued (what the next operation is based on).
type modelHarness struct {
	t     *testing.T
	rng   *rand.Rand
	fs    *vfs.MemFS
	db    *dkv.DB
	s     *Storage
	vis   *raft.MemoryStorage
	stg   *raft.MemoryStorage
	crash bool // take crash clones and check them

	term      uint64 // the highest term used
	commit    uint64 // the staged HardState's commit
	hs        *raftpb.HardState
	applied   uint64
	cs        *raftpb.ConfState
	appliedAt []uint64 // the applied indexes set since the last synced write
}

func newModelHarness(t *testing.T, seed uint64, crash bool) *modelHarness {
	h := &modelHarness{
		t:     t,
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		fs:    vfs.NewMem(),
		vis:   raft.NewMemoryStorage(),
		stg:   raft.NewMemoryStorage(),
		crash: crash,
		cs:    &raftpb.ConfState{},
		hs:    &raftpb.HardState{},
	}
	h.db = openDB(t, h.fs)
	t.Cleanup(func() { h.db.Close() })
	if h.rng.IntN(2) == 0 {
		// Bootstrapped like a cluster member: the log starts after 10.
		h.term, h.commit, h.applied = 5, 10, 10
		h.cs = &raftpb.ConfState{Voters: []uint64{1, 2, 3}}
		h.hs = hardState(5, 0, 10)
		bootstrap(t, h.db, testRange, 10, 5, 1, 2, 3)
		snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(10)), Term: new(uint64(5)), ConfState: proto.CloneOf(h.cs)}}
		for _, ms := range []*raft.MemoryStorage{h.vis, h.stg} {
			require.NoError(t, ms.ApplySnapshot(snap))
			require.NoError(t, ms.SetHardState(proto.CloneOf(h.hs)))
		}
	}
	h.appliedAt = []uint64{h.applied}
	h.reopen()
	return h
}

func (h *modelHarness) cacheBytes() int64 {
	return []int64{-1, 1 << 10, 16 << 10, DefaultCacheBytes}[h.rng.IntN(4)]
}

func (h *modelHarness) reopen() {
	s, err := OpenWith(h.db, testRange, Options{CacheBytes: h.cacheBytes()})
	require.NoError(h.t, err)
	h.s = s
}

func (h *modelHarness) first(ms *raft.MemoryStorage) uint64 {
	i, _ := ms.FirstIndex()
	return i
}

func (h *modelHarness) last(ms *raft.MemoryStorage) uint64 {
	i, _ := ms.LastIndex()
	return i
}

// step runs one random operation and checks the Storage afterwards.
func (h *modelHarness) step(i int) {
	what := ""
	switch r := h.rng.IntN(100); {
	case r < 55:
		what = h.logBatch()
	case r < 75:
		what = h.setApplied()
	case r < 80:
		what = h.snapshot()
	case r < 87:
		h.reopen()
		what = "reopen storage"
	case r < 90:
		require.NoError(h.t, h.db.Close())
		h.db = openDB(h.t, h.fs)
		h.reopen()
		h.appliedAt = []uint64{h.applied}
		what = "reopen db"
	default:
		if h.crash {
			h.checkCrash(fmt.Sprintf("step %d: crash", i))
			what = "crash"
		} else {
			what = h.logBatch()
		}
	}
	compare(h.t, h.rng, h.s, h.vis, fmt.Sprintf("step %d (%s)", i, what))
}

// logBatch writes one to three appends and truncations in one batch,
// checks that the Storage reports none of them before Applied, then
// applies them.
func (h *modelHarness) logBatch() string {
	b := h.db.NewBatch()
	defer b.Close()
	var pendings []Pending
	var applies []func(ms *raft.MemoryStorage)
	var names []string
	for range 1 + h.rng.IntN(3) {
		var p Pending
		var apply func(ms *raft.MemoryStorage)
		var name string
		if h.rng.IntN(5) == 0 {
			p, apply, name = h.truncate(b)
		} else {
			p, apply, name = h.append(b)
		}
		if apply == nil {
			continue
		}
		apply(h.stg)
		pendings, applies, names = append(pendings, p), append(applies, apply), append(names, name)
	}
	label := fmt.Sprint("batch ", names)
	compare(h.t, h.rng, h.s, h.vis, label+" issued, not written")
	require.NoError(h.t, h.db.Write(b, dkv.Sync))
	if b.Len() > 0 {
		// The engine syncs a batch with something in it, and with it
		// every earlier write.
		h.appliedAt = []uint64{h.applied}
	}
	compare(h.t, h.rng, h.s, h.vis, label+" written, not applied")
	for i, p := range pendings {
		h.s.Applied(p)
		applies[i](h.vis)
	}
	return label
}

// append issues an Append of random entries (maybe overwriting the
// uncommitted suffix, maybe starting below the first index) with a
// random HardState.
func (h *modelHarness) append(b *dkv.Batch) (Pending, func(*raft.MemoryStorage), string) {
	first, last := h.first(h.stg), h.last(h.stg)
	lo := last + 1
	var es []*raftpb.Entry
	if r := h.rng.IntN(10); r < 3 && last > h.commit {
		lo = h.commit + 1 + h.rng.Uint64N(last-h.commit) // overwrite an uncommitted suffix
		h.term++
	} else if r == 3 && first > 1 {
		// Starting below the first index, as a leader's append may: the
		// entries the log holds are repeated, those below it dropped.
		lo = first - 1 - h.rng.Uint64N(min(3, first-1))
		for i := lo; i < first; i++ {
			es = append(es, &raftpb.Entry{Index: new(i), Term: new(uint64(1))})
		}
		if last >= first {
			held, err := h.stg.Entries(first, last+1, math.MaxUint64)
			require.NoError(h.t, err)
			es = append(es, held...)
		}
	}
	if h.term == 0 {
		h.term = 1
	}
	n := uint64(len(es) + h.rng.IntN(9))
	for i := lo + uint64(len(es)); i < lo+n; i++ {
		size := h.rng.IntN(100)
		if h.rng.IntN(20) == 0 {
			size = 1 + h.rng.IntN(8<<10)
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(h.rng.Uint32())
		}
		typ := raftpb.EntryType(h.rng.IntN(3))
		es = append(es, &raftpb.Entry{Index: new(i), Term: new(h.term), Type: typ.Enum(), Data: data})
	}
	newLast := last
	if n > 0 && lo+n-1 >= first {
		newLast = lo + n - 1
	}
	var hs *raftpb.HardState
	if h.rng.IntN(2) == 0 {
		commit := h.commit
		if newLast > commit && h.rng.IntN(2) == 0 {
			commit += h.rng.Uint64N(newLast - commit + 1)
		}
		hs = hardState(h.term, h.rng.Uint64N(4), commit)
		h.commit = commit
	}
	p, err := h.s.Append(b, hs, es)
	require.NoError(h.t, err)
	if hs == nil && (n == 0 || lo+n-1 < first) {
		require.True(h.t, p.IsZero(), "an Append that changes nothing returns the zero Pending")
	}
	name := fmt.Sprintf("append [%d, %d) hs %v", lo, lo+n, hs != nil)
	return p, func(ms *raft.MemoryStorage) {
		require.NoError(h.t, ms.Append(es))
		if hs != nil {
			require.NoError(h.t, ms.SetHardState(proto.CloneOf(hs)))
		}
	}, name
}

// truncate issues a Truncate to a random index up to the applied one.
func (h *modelHarness) truncate(b *dkv.Batch) (Pending, func(*raft.MemoryStorage), string) {
	first, last := h.first(h.stg), h.last(h.stg)
	hi := min(h.applied, last)
	if hi < first {
		_, err := h.s.Truncate(b, first-1)
		require.Error(h.t, err, "truncating to the truncated index is refused")
		return Pending{}, nil, ""
	}
	index := first + h.rng.Uint64N(hi-first+1)
	p, err := h.s.Truncate(b, index)
	require.NoError(h.t, err)
	return p, func(ms *raft.MemoryStorage) { require.NoError(h.t, ms.Compact(index)) }, fmt.Sprintf("truncate %d", index)
}

// setApplied applies up to a random committed index: writes the applied
// state (not synced, as the replica's apply batch) and tells the Storage.
func (h *modelHarness) setApplied() string {
	if h.commit <= h.applied {
		return "nothing to apply"
	}
	index := h.applied + 1 + h.rng.Uint64N(h.commit-h.applied)
	term, err := h.vis.Term(index)
	require.NoError(h.t, err)
	var cs *raftpb.ConfState
	if h.rng.IntN(3) == 0 {
		h.cs = &raftpb.ConfState{Voters: []uint64{1, 2, 3, 4}[:1+h.rng.IntN(4)], Learners: []uint64{9}[:h.rng.IntN(2)]}
		cs = h.cs
	}
	as, err := NewAppliedState(index, term, h.cs, 0, 0)
	require.NoError(h.t, err)
	write(h.t, h.db, false, func(b *dkv.Batch) { require.NoError(h.t, WriteAppliedState(b, testRange, as)) })
	h.s.SetApplied(index, term, cs)
	h.applied = index
	h.appliedAt = append(h.appliedAt, index)
	for _, ms := range []*raft.MemoryStorage{h.vis, h.stg} {
		_, err := ms.CreateSnapshot(index, proto.CloneOf(h.cs), nil)
		require.NoError(h.t, err)
	}
	return fmt.Sprintf("applied %d", index)
}

// snapshot ingests a snapshot past the applied index (within the log or
// beyond it), as a replica does: one write replacing every range-ID key.
func (h *modelHarness) snapshot() string {
	last := h.last(h.stg)
	index := h.applied + 1 + h.rng.Uint64N(last-h.applied+3)
	h.term++
	term := h.term
	h.cs = &raftpb.ConfState{Voters: []uint64{1, 2, 3}[:1+h.rng.IntN(3)]}
	hs := hardState(term, h.rng.Uint64N(4), index)
	meta := &raftpb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: proto.CloneOf(h.cs)}
	write(h.t, h.db, true, func(b *dkv.Batch) {
		require.NoError(h.t, b.DeleteRange(keys.RangeIDPrefix(testRange), keys.RangeIDPrefixEnd(testRange)))
		require.NoError(h.t, WriteInitialState(b, testRange, hs, &kvpb.TruncatedState{Index: index, Term: term}))
		as, err := NewAppliedState(index, term, h.cs, 0, 0)
		require.NoError(h.t, err)
		require.NoError(h.t, WriteAppliedState(b, testRange, as))
	})
	h.s.ApplySnapshot(meta, hs)
	for _, ms := range []*raft.MemoryStorage{h.vis, h.stg} {
		require.NoError(h.t, ms.ApplySnapshot(&raftpb.Snapshot{Metadata: proto.CloneOf(meta)}))
		require.NoError(h.t, ms.SetHardState(proto.CloneOf(hs)))
	}
	h.applied, h.commit = index, index
	h.appliedAt = []uint64{index}
	return fmt.Sprintf("snapshot %d/%d", index, term)
}

// checkCrash opens the engine as a power loss now would leave it: every
// log write was synced, so the log, HardState and truncated state are
// exactly the model's; the applied state is one of those set since the
// last synced write (a prefix of the history).
func (h *modelHarness) checkCrash(label string) {
	clone := h.fs.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(h.rng.Uint64(), 1))})
	db := openDB(h.t, clone)
	defer db.Close()
	s, err := OpenWith(db, testRange, Options{CacheBytes: h.cacheBytes()})
	require.NoError(h.t, err, label)
	compareLog(h.t, h.rng, s, h.vis, label)
	idx, _ := s.AppliedIndex()
	require.Contains(h.t, h.appliedAt, idx, "%s: recovered applied index", label)
}

// compare checks every raft.Storage answer of s against ms.
func compare(t *testing.T, rng *rand.Rand, s *Storage, ms *raft.MemoryStorage, label string) {
	t.Helper()
	compareLog(t, rng, s, ms, label)
	_, wantCS, _ := ms.InitialState()
	_, gotCS, err := s.InitialState()
	require.NoError(t, err)
	require.True(t, proto.Equal(raftpb.EnsureConfState(proto.CloneOf(wantCS)), gotCS), "%s: conf state %v, want %v", label, gotCS, wantCS)

	want, _ := ms.Snapshot()
	got, err := s.Snapshot()
	if want.GetMetadata().GetIndex() == 0 {
		require.ErrorIs(t, err, raft.ErrSnapshotTemporarilyUnavailable, label)
	} else {
		require.NoError(t, err, label)
		require.Nil(t, got.Data)
		require.Equal(t, want.GetMetadata().GetIndex(), got.GetMetadata().GetIndex(), "%s: snapshot index", label)
		require.Equal(t, want.GetMetadata().GetTerm(), got.GetMetadata().GetTerm(), "%s: snapshot term", label)
		require.True(t, proto.Equal(raftpb.EnsureConfState(proto.CloneOf(want.GetMetadata().GetConfState())), got.GetMetadata().GetConfState()), "%s: snapshot conf state", label)
	}
}

// compareLog checks the log bounds, the HardState, Term and Entries.
func compareLog(t *testing.T, rng *rand.Rand, s *Storage, ms *raft.MemoryStorage, label string) {
	t.Helper()
	first, _ := ms.FirstIndex()
	last, _ := ms.LastIndex()
	gotFirst, err := s.FirstIndex()
	require.NoError(t, err)
	gotLast, err := s.LastIndex()
	require.NoError(t, err)
	require.Equal(t, first, gotFirst, "%s: first index", label)
	require.Equal(t, last, gotLast, "%s: last index", label)
	require.Equal(t, first-1, s.TruncatedState().GetIndex(), "%s: truncated index", label)

	wantHS, _, _ := ms.InitialState()
	gotHS, _, err := s.InitialState()
	require.NoError(t, err)
	for _, got := range []*raftpb.HardState{gotHS, s.HardState()} {
		require.Equal(t, []uint64{wantHS.GetTerm(), wantHS.GetVote(), wantHS.GetCommit()}, []uint64{got.GetTerm(), got.GetVote(), got.GetCommit()}, "%s: hard state", label)
	}

	// Term: the bounds, and a sample inside.
	idxs := []uint64{0, 1, first - 1, first, first + 1, last, last + 1, last + 2}
	if last > 0 {
		idxs = append(idxs, last-1)
	}
	for range 8 {
		idxs = append(idxs, first-1+rng.Uint64N(last-first+2))
	}
	for _, i := range idxs {
		if i > last+2 {
			continue
		}
		want, wantErr := ms.Term(i)
		got, err := s.Term(i)
		require.Equal(t, wantErr, err, "%s: Term(%d) error", label, i)
		require.Equal(t, want, got, "%s: Term(%d)", label, i)
	}

	// Entries: compacted, past the end, and samples inside with sizes.
	_, err = s.Entries(first-1, last+1, math.MaxUint64)
	require.ErrorIs(t, err, raft.ErrCompacted, "%s: Entries below the first index", label)
	_, err = s.Entries(first, last+2, math.MaxUint64)
	require.ErrorIs(t, err, raft.ErrUnavailable, "%s: Entries past the last index", label)
	if last < first {
		return
	}
	type span struct{ lo, hi, max uint64 }
	spans := []span{{first, last + 1, math.MaxUint64}, {first, last + 1, 0}, {last, last + 1, 0}}
	for range 4 {
		lo := first - 1 + rng.Uint64N(last-first+2)
		hi := lo + 1 + rng.Uint64N(last+1-max(lo, first)+1)
		hi = min(hi, last+1)
		if lo >= hi {
			continue
		}
		spans = append(spans, span{lo, hi, []uint64{0, 1, uint64(rng.IntN(3000)), uint64(rng.IntN(100000)), math.MaxUint64}[rng.IntN(5)]})
	}
	for _, sp := range spans {
		want, wantErr := ms.Entries(sp.lo, sp.hi, sp.max)
		got, err := s.Entries(sp.lo, sp.hi, sp.max)
		require.Equal(t, wantErr, err, "%s: Entries(%d, %d, %d) error", label, sp.lo, sp.hi, sp.max)
		require.Equal(t, len(want), len(got), "%s: Entries(%d, %d, %d) length", label, sp.lo, sp.hi, sp.max)
		for i := range want {
			if !proto.Equal(want[i], got[i]) {
				t.Fatalf("%s: Entries(%d, %d, %d)[%d] = %v, want %v", label, sp.lo, sp.hi, sp.max, i, got[i], want[i])
			}
		}
		if len(got) > 0 {
			// The caller owns the slice: appending to it must not change
			// what the Storage returns next.
			_ = append(got, &raftpb.Entry{})
			again, err := s.Entries(sp.lo, sp.hi, sp.max)
			require.NoError(t, err)
			require.Equal(t, len(got), len(again))
		}
	}
}

// TestModel drives a Storage and raft.MemoryStorage through the same
// random operations, reopening the Storage and the engine along the way,
// and requires the same answer to every raft.Storage call.
func TestModel(t *testing.T) {
	seeds, steps := envInt("DKV_RAFTLOG_SEEDS", 12), 120
	if testing.Short() {
		seeds = 4
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			h := newModelHarness(t, seed, false)
			for i := range steps {
				h.step(i)
			}
		})
	}
}

// TestCrash is TestModel with power losses: at random moments the engine
// is cloned as a crash would leave it (unsynced bytes partly kept) and
// reopened. Every log write is synced, so the recovered log is the
// model's; the applied state (written unsynced) is a recent one.
func TestCrash(t *testing.T) {
	seeds, steps := envInt("DKV_RAFTLOG_SEEDS", 12)/2, 120
	if testing.Short() {
		seeds = 2
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			h := newModelHarness(t, 1000+seed, true)
			for i := range steps {
				h.step(i)
			}
			h.checkCrash("final")
		})
	}
}

// envInt returns the integer in the environment variable name, or def:
// DKV_RAFTLOG_SEEDS=500 runs the model and crash tests longer.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
