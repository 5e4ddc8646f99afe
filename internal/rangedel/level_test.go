package rangedel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

// checkLevels checks the shape Extend promises: the levels hold l's
// tombstones, in order, each level at least twice the size of the next,
// so at most log₂ n + 1 of them; and Empty, Len and Spans are those of
// the tombstones taken whole.
func checkLevels(t *testing.T, l *List, all []Tombstone) {
	t.Helper()
	require.Equal(t, len(all), l.Len())
	at := 0
	for i, lv := range l.levels {
		require.NotEmpty(t, lv.ts, "level %d", i)
		if i > 0 {
			require.GreaterOrEqual(t, len(l.levels[i-1].ts), 2*len(lv.ts), "levels %d and %d", i-1, i)
		}
		require.Equal(t, l.ts[at:at+len(lv.ts)], lv.ts, "level %d", i)
		at += len(lv.ts)
	}
	require.Equal(t, len(all), at)
	require.Equal(t, all, l.ts)
	if n := len(all); n > 0 {
		require.LessOrEqual(t, len(l.levels), int(math.Log2(float64(n)))+1)
	}
	want := FragmentFor(cmp, all, nil)
	require.Equal(t, format(want), format(l.Spans()))
	require.Equal(t, len(want) == 0, l.Empty())
}

// The contract of Extend, against the definition: random runs of
// tombstones added in batches of random sizes (so that levels merge in
// every way), with lookups at random sequence numbers after each — of the
// newest List and of Lists taken earlier, which must go on answering for
// the tombstones they had. Sequence numbers mostly ascend, as a
// memtable's do, but not always: a List answers for any.
func TestExtendMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 300 {
		var all []Tombstone
		var l *List
		if rng.IntN(2) == 0 {
			l = NewListOf(cmp, nil)
		}
		type held struct {
			l *List
			n int
		}
		var lists []held
		ascending := rng.IntN(4) != 0
		seq := base.SeqNum(0)
		for range 1 + rng.IntN(25) {
			for range 1 + rng.IntN(1+rng.IntN(8)) {
				in := randomTombstones(rng, 1)[0]
				if ascending {
					seq += base.SeqNum(1 + rng.IntN(2))
					in.Seq = seq
				}
				all = append(all, in)
			}
			l = l.Extend(cmp, all)
			checkLevels(t, l, all)
			lists = append(lists, held{l, len(all)})
			maxSeq := base.SeqNum(32)
			if ascending {
				maxSeq = seq + 1
			}
			for range 40 {
				h := lists[rng.IntN(len(lists))]
				key := []byte{byte('a' - 1 + rng.IntN(23))}
				r := base.SeqNum(rng.IntN(int(maxSeq) + 1))
				want, wantOK := bruteCovering(all[:h.n], key, r)
				got, gotOK := h.l.Covering(key, r)
				require.Equal(t, wantOK, gotOK, "round %d: key %s at %d of %v", round, key, r, all[:h.n])
				require.Equal(t, want, got, "round %d: key %s at %d of %v", round, key, r, all[:h.n])
				p := base.SeqNum(rng.IntN(int(r) + 1))
				require.Equal(t, wantOK && want > p, h.l.Deletes(key, p, r), "round %d: key %s#%d at %d", round, key, p, r)
				require.Equal(t, wantOK && want > p, AnyDeletes([]*List{NewList(cmp, nil), h.l}, key, p, r))
			}
		}
	}
}

// Extending a List of no tombstones by none gives an empty List; a List
// made by NewList cannot be extended.
func TestExtendEdges(t *testing.T) {
	l := (*List)(nil).Extend(cmp, nil)
	require.True(t, l.Empty())
	require.Equal(t, 0, l.Len())
	require.Same(t, l, l.Extend(cmp, nil))
	l = l.Extend(cmp, ts("c", "a", 1)) // an empty range: deletes nothing
	require.True(t, l.Empty())
	require.Equal(t, 1, l.Len())
	_, ok := l.Covering([]byte("b"), 5)
	require.False(t, ok)
	require.Panics(t, func() { NewList(cmp, Fragment(cmp, ts("a", "b", 1))).Extend(cmp, nil) })
	require.Panics(t, func() { NewListOf(cmp, ts("a", "b", 1, "b", "c", 2)).Extend(cmp, ts("a", "b", 1)) })
}

// queueTombstones returns the range deletions of issue 13's queue of n
// items: tombstone i deletes [q/, q/i) at sequence number 2i+2 (the
// queue's Puts take the odd ones).
func queueTombstones(n int) []Tombstone {
	out := make([]Tombstone, n)
	for i := range out {
		out[i] = Tombstone{Start: []byte("q/"), End: fmt.Appendf(nil, "q/%08d", i), Seq: base.SeqNum(2*i + 2)}
	}
	return out
}

// The cost Extend promises, counted in tombstones built into levels (and
// into histories) rather than in time: a List extended by one tombstone
// at a time, read after each at the newest sequence number and at a
// reader 50 tombstones behind — issue 13's queue, read as it goes —
// builds each tombstone into at most 1 + log₁.₅ n levels, so O(n log n)
// tombstones in all where building the List anew each time built n²/2.
func TestExtendWork(t *testing.T) {
	const n = 20000
	all := queueTombstones(n)
	var l *List
	var built, histories int
	var fresh []*level // every level built
	bound := int(float64(n) * (1 + math.Log(n)/math.Log(1.5)))
	for i := range all {
		prev := l
		l = l.Extend(cmp, all[:i+1])
		// The levels not shared with the previous List were built now.
		for _, lv := range l.levels {
			if prev == nil || !containsLevel(prev.levels, lv) {
				built += len(lv.ts)
				fresh = append(fresh, lv)
			}
		}
		// Tombstone i covers q/(i-1) and not q/i; the reader behind sees
		// q/(i-60) deleted and q/(i-50) not.
		if i > 0 {
			seq, ok := l.Covering(fmt.Appendf(nil, "q/%08d", i-1), all[i].Seq)
			require.True(t, ok && seq == all[i].Seq, "step %d", i)
		}
		_, ok := l.Covering(fmt.Appendf(nil, "q/%08d", i), all[i].Seq)
		require.False(t, ok, "step %d", i)
		if i >= 60 {
			_, ok = l.Covering(fmt.Appendf(nil, "q/%08d", i-60), all[i-50].Seq)
			require.True(t, ok, "step %d", i)
			_, ok = l.Covering(fmt.Appendf(nil, "q/%08d", i-50), all[i-50].Seq)
			require.False(t, ok, "step %d", i)
		}
		require.LessOrEqual(t, built, bound, "step %d: %d tombstones built into levels", i, built)
	}
	// A level's history is built once, by the first reader below its
	// newest tombstone: at most as many tombstones as the levels.
	for _, lv := range fresh {
		if lv.history != nil {
			histories += len(lv.ts)
		}
	}
	require.LessOrEqual(t, histories, built)
	t.Logf("%d tombstones: %d built into levels (%.2f n log₂ n; bound %d), %d into histories; %d levels", n, built,
		float64(built)/(n*math.Log2(n)), bound, histories, len(l.levels))
}

func containsLevel(levels []*level, lv *level) bool {
	for _, x := range levels {
		if x == lv {
			return true
		}
	}
	return false
}

// A List being extended by one goroutine is read by others, each at the
// newest List published and at Lists it took earlier: every List answers
// for the tombstones it had, and the race detector sees no write to what
// a reader holds.
func TestExtendConcurrentReaders(t *testing.T) {
	const n = 2000
	rng := rand.New(rand.NewPCG(9, 10))
	all := make([]Tombstone, n)
	for i := range all {
		all[i] = randomTombstones(rng, 1)[0]
		all[i].Seq = base.SeqNum(i + 1)
	}
	var cur atomic.Pointer[List]
	cur.Store(NewListOf(cmp, nil))
	var wg sync.WaitGroup
	var done atomic.Bool
	var reads atomic.Int64
	for r := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 11))
			var old *List
			for !done.Load() {
				l := cur.Load()
				if old == nil || rng.IntN(8) == 0 {
					old = l
				}
				for _, h := range []*List{l, old} {
					key := []byte{byte('a' + rng.IntN(21))}
					seq := base.SeqNum(rng.IntN(h.Len() + 2))
					want, wantOK := bruteCovering(all[:h.Len()], key, seq)
					got, gotOK := h.Covering(key, seq)
					if want != got || wantOK != gotOK {
						t.Errorf("key %s at %d of %d tombstones: got %d,%v want %d,%v", key, seq, h.Len(), got, gotOK, want, wantOK)
						done.Store(true)
						return
					}
				}
				reads.Add(1)
			}
		})
	}
	// Published a few at a time, as reads between a memtable's Adds see them.
	for i := 0; i < n && !done.Load(); {
		i = min(n, i+1+rng.IntN(4))
		cur.Store(cur.Load().Extend(cmp, all[:i]))
		for r := reads.Load(); reads.Load() == r && !done.Load(); {
			runtime.Gosched() // until a reader has read
		}
	}
	done.Store(true)
	wg.Wait()
}
