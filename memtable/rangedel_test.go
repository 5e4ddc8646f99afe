package memtable

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/rangedel"
)

// covering is the definition: the newest range tombstone at or below seq
// whose range holds key.
func covering(ts []rangedel.Tombstone, key string, seq base.SeqNum) (base.SeqNum, bool) {
	var best base.SeqNum
	ok := false
	for _, t := range ts {
		if string(t.Start) <= key && key < string(t.End) && t.Seq <= seq && (!ok || t.Seq > best) {
			best, ok = t.Seq, true
		}
	}
	return best, ok
}

// addRangeDels adds n random range tombstones to m at sequence numbers
// 1..n, most of them nested (from k00 to a random key), and returns them.
func addRangeDels(m *MemTable, rng *rand.Rand, n int) []rangedel.Tombstone {
	var ts []rangedel.Tombstone
	for i := range n {
		lo, hi := rng.IntN(30), rng.IntN(31)
		if rng.IntN(2) == 0 {
			lo = 0
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		t := rangedel.Tombstone{Start: fmt.Appendf(nil, "k%02d", lo), End: fmt.Appendf(nil, "k%02d", hi), Seq: base.SeqNum(i + 1)}
		m.Add(t.Seq, base.KindRangeDelete, t.Start, t.End)
		ts = append(ts, t)
	}
	return ts
}

// RangeDels answers readers at every sequence number, however the
// tombstones nest, and a List taken earlier does not change when more
// tombstones come.
func TestRangeDelsEverySeq(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		m := New(base.DefaultComparer, 0)
		ts := addRangeDels(m, rng, rng.IntN(40))
		l := m.RangeDels()
		more := addRangeDels(m, rng, 5)
		for i := range more {
			more[i].Seq += base.SeqNum(len(ts)) // what the memtable holds
		}
		for k := range 32 {
			key := fmt.Sprintf("k%02d", k)
			for seq := base.SeqNum(0); seq <= base.SeqNum(len(ts)+1); seq++ {
				want, wantOK := covering(ts, key, seq)
				got, gotOK := l.Covering([]byte(key), seq)
				require.Equal(t, wantOK, gotOK, "key %s seq %d", key, seq)
				require.Equal(t, want, got, "key %s seq %d", key, seq)
			}
		}
	}
}

// RangeDelsFor's contract: exact for readers at each snapshot and at
// every sequence number at or above published, even when tombstones above
// published sit in one stripe; and no more than one sequence number per
// stripe the snapshots, published and those tombstones cut.
func TestRangeDelsFor(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		m := New(base.DefaultComparer, 0)
		n := 1 + rng.IntN(40)
		ts := addRangeDels(m, rng, n)
		var snaps []base.SeqNum
		for s := base.SeqNum(1); s <= base.SeqNum(n); s++ {
			if rng.IntN(8) == 0 {
				snaps = append(snaps, s)
			}
		}
		published := base.SeqNum(rng.IntN(n + 2))
		spans := m.RangeDelsFor(snaps, published)
		require.NoError(t, rangedel.Check(base.DefaultComparer.Compare, spans))
		l := rangedel.NewList(base.DefaultComparer.Compare, spans)
		readers := append([]base.SeqNum{base.SeqNumMax}, snaps...)
		for r := published; r <= base.SeqNum(n+1); r++ {
			readers = append(readers, r)
		}
		for k := range 32 {
			key := fmt.Sprintf("k%02d", k)
			for _, r := range readers {
				want, wantOK := covering(ts, key, r)
				got, gotOK := l.Covering([]byte(key), r)
				require.Equal(t, wantOK, gotOK, "key %s reader %d, snapshots %v, published %d", key, r, snaps, published)
				require.Equal(t, want, got, "key %s reader %d, snapshots %v, published %d", key, r, snaps, published)
			}
		}
		unpublished := max(n-int(published), 0)
		for _, s := range spans {
			require.LessOrEqual(t, len(s.Seqs), len(snaps)+1+unpublished, "%s", s)
		}
	}
}

// Issue 13's queue in a memtable: what a flush writes and what readers
// search hold one sequence number per stripe, not one per tombstone.
func TestRangeDelsQueue(t *testing.T) {
	const n = 5000
	m := New(base.DefaultComparer, 0)
	for i := range n {
		m.Add(base.SeqNum(i+1), base.KindRangeDelete, []byte("q/"), fmt.Appendf(nil, "q/%08d", i+1))
	}
	require.Equal(t, `[["q/", "q/00005000")#[5000]]`, fmt.Sprint(m.RangeDels().Spans()))
	spans := m.RangeDelsFor([]base.SeqNum{1000, 3000}, n)
	require.Equal(t, `[["q/", "q/00001000")#[5000 3000 1000] ["q/00001000", "q/00003000")#[5000 3000] ["q/00003000", "q/00005000")#[5000]]`,
		fmt.Sprint(spans))
	seq, ok := m.RangeDels().Covering([]byte("q/00000007"), 42)
	require.True(t, ok)
	require.Equal(t, base.SeqNum(42), seq)
}
