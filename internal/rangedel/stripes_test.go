package rangedel

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

// FragmentFor keeps, per span, the newest sequence number of each stripe
// the snapshots cut: the example of the package doc, then nested
// tombstones under snapshots.
func TestFragmentFor(t *testing.T) {
	for _, c := range []struct {
		in    []Tombstone
		snaps []base.SeqNum
		want  string
	}{
		{ts("b", "f", 7, "d", "h", 4), nil, "[b,f)[7] [f,h)[4] "},
		{ts("b", "f", 7, "d", "h", 4), []base.SeqNum{5}, "[b,d)[7] [d,f)[7 4] [f,h)[4] "},
		{ts("b", "f", 7, "d", "h", 4), []base.SeqNum{3}, "[b,f)[7] [f,h)[4] "},
		// A queue: every tombstone covers the ones before it.
		{ts("a", "b", 1, "a", "c", 2, "a", "d", 3, "a", "e", 4), nil, "[a,e)[4] "},
		{ts("a", "b", 1, "a", "c", 2, "a", "d", 3, "a", "e", 4), []base.SeqNum{2}, "[a,c)[4 2] [c,e)[4] "},
		{ts("a", "b", 1, "a", "c", 2, "a", "d", 3, "a", "e", 4), []base.SeqNum{1, 3}, "[a,b)[4 3 1] [b,d)[4 3] [d,e)[4] "},
		{ts("a", "z", 3, "m", "n", 3), []base.SeqNum{1, 2, 3}, "[a,z)[3] "},
		{ts("c", "c", 3, "d", "b", 4), nil, ""},
		{nil, []base.SeqNum{5}, ""},
	} {
		require.Equal(t, c.want, format(FragmentFor(cmp, c.in, c.snaps)), "%v at %v", c.in, c.snaps)
	}
}

// randomSnapshots returns up to four sequence numbers in 0..31, ascending,
// maybe repeated.
func randomSnapshots(rng *rand.Rand) []base.SeqNum {
	var s []base.SeqNum
	for range rng.IntN(5) {
		s = append(s, base.SeqNum(rng.IntN(32)))
	}
	slices.Sort(s)
	return s
}

// The contract of FragmentFor: for a reader at a snapshot, or at or above
// every tombstone, the spans answer as the tombstones themselves do; and
// no span holds two sequence numbers of one stripe.
func TestFragmentForMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		in := randomTombstones(rng, rng.IntN(16))
		snaps := randomSnapshots(rng)
		spans := FragmentFor(cmp, in, snaps)
		require.NoError(t, Check(cmp, spans))
		for _, s := range spans {
			for j := 1; j < len(s.Seqs); j++ {
				require.NotEqual(t, stripeOf(snaps, s.Seqs[j-1]), stripeOf(snaps, s.Seqs[j]), "%s at %v", s, snaps)
			}
			for j := 1; j < len(spans); j++ {
				if cmp(spans[j-1].End, spans[j].Start) == 0 {
					require.NotEqual(t, spans[j-1].Seqs, spans[j].Seqs, "neighbours not joined: %s", format(spans))
				}
			}
		}
		l := NewList(cmp, spans)
		for k := byte('a' - 1); k <= 'a'+21; k++ {
			for _, seq := range append(slices.Clone(snaps), 30, 31, base.SeqNumMax) {
				want, wantOK := bruteCovering(in, []byte{k}, seq)
				got, gotOK := l.Covering([]byte{k}, seq)
				require.Equal(t, wantOK, gotOK, "key %c seq %d in %v at %v", k, seq, in, snaps)
				require.Equal(t, want, got, "key %c seq %d in %v at %v", k, seq, in, snaps)
			}
		}
	}
}

// The contract of NewListOf: Covering answers as the tombstones do at
// every sequence number, and Spans is what a reader above them all sees.
func TestListOfMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 1000 {
		in := randomTombstones(rng, rng.IntN(24))
		if i%2 == 0 { // a memtable's: in sequence-number order, none repeated
			for j := range in {
				in[j].Seq = base.SeqNum(j + 1)
			}
		}
		l := NewListOf(cmp, in)
		require.Equal(t, format(FragmentFor(cmp, in, nil)), format(l.Spans()))
		for k := byte('a' - 1); k <= 'a'+21; k++ {
			for seq := base.SeqNum(0); seq <= 32; seq++ {
				want, wantOK := bruteCovering(in, []byte{k}, seq)
				got, gotOK := l.Covering([]byte{k}, seq)
				require.Equal(t, wantOK, gotOK, "key %c seq %d in %v", k, seq, in)
				require.Equal(t, want, got, "key %c seq %d in %v", k, seq, in)
			}
		}
	}
}

// queue returns the tombstones of issue 13's queue of n items: tombstone
// i deletes [q/, q/i) at sequence number i+1, covering every earlier one.
func queue(n int) []Tombstone {
	out := make([]Tombstone, n)
	for i := range out {
		out[i] = Tombstone{Start: []byte("q/"), End: fmt.Appendf(nil, "q/%08d", i+1), Seq: base.SeqNum(i + 1)}
	}
	return out
}

// randomOverlapping returns n tombstones over random ranges of 10,000
// keys, most short, some wide, at sequence numbers 1..n.
func randomOverlapping(rng *rand.Rand, n int) []Tombstone {
	out := make([]Tombstone, n)
	for i := range out {
		lo := rng.IntN(10000)
		width := 1 + rng.IntN(100)
		if rng.IntN(10) == 0 {
			width = rng.IntN(5000)
		}
		out[i] = Tombstone{Start: fmt.Appendf(nil, "k%05d", lo), End: fmt.Appendf(nil, "k%05d", lo+width), Seq: base.SeqNum(i + 1)}
	}
	return out
}

func countSeqs(spans []Span) int {
	n := 0
	for _, s := range spans {
		n += len(s.Seqs)
	}
	return n
}

// Issue 13: what FragmentFor and NewListOf hold grows with the tombstones,
// not with their square, for nested and for random overlapping ones. Each
// of n tombstones adds at most two bounds, so at most 2n spans, each with
// at most one sequence number per stripe; a history holds at most 3n
// rectangles, each in at most 2·log2(2n) nodes of its tree.
func TestFragmentForIsLinear(t *testing.T) {
	const n = 4000
	rng := rand.New(rand.NewPCG(9, 10))
	for name, in := range map[string][]Tombstone{"queue": queue(n), "random": randomOverlapping(rng, n)} {
		t.Run(name, func(t *testing.T) {
			snaps := []base.SeqNum{n / 4, n / 2, 3 * n / 4}
			require.LessOrEqual(t, countSeqs(FragmentFor(cmp, in, nil)), 2*n)
			require.LessOrEqual(t, countSeqs(FragmentFor(cmp, in, snaps)), 2*n*(len(snaps)+1))
			h := newHistory(cmp, in)
			logn := 1
			for 1<<logn < 2*n {
				logn++
			}
			require.LessOrEqual(t, len(h.rects), 3*n*2*logn)
		})
	}
	require.Equal(t, "[q/,q/00004000)[4000] ", format(FragmentFor(cmp, queue(n), nil)))
}

// The bitset finds the next and previous members as a sorted list does.
func TestBitset(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 63, 64, 65, 4096, 4097, 300000} {
		b := newBitset(n)
		in := map[int]bool{}
		for range 2000 {
			i := rng.IntN(n)
			if rng.IntN(3) == 0 {
				b.clear(i)
				delete(in, i)
			} else {
				b.set(i)
				in[i] = true
			}
			q := rng.IntN(n+2) - 1
			wantNext, wantPrev := -1, -1
			for j := range in {
				if j >= q && (wantNext < 0 || j < wantNext) {
					wantNext = j
				}
				if j <= q && j > wantPrev {
					wantPrev = j
				}
			}
			require.Equal(t, wantNext, b.next(q), "n %d next(%d)", n, q)
			require.Equal(t, wantPrev, b.prev(q), "n %d prev(%d)", n, q)
			require.Equal(t, len(in) == 0, b.empty())
			require.Equal(t, in[i], b.has(i))
		}
	}
}
