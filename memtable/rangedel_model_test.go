package memtable

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/rangedel"
)

// countingComparer returns a bytewise Comparer that counts its
// comparisons in *n: the work of a MemTable's searches and of building
// its range tombstones' Lists, measured without a clock.
func countingComparer(n *atomic.Int64) *base.Comparer {
	c := *base.DefaultComparer
	c.Name = "counting"
	c.Compare = func(a, b []byte) int {
		n.Add(1)
		return bytes.Compare(a, b)
	}
	return &c
}

// Issue 13's queue read as it goes — Put(q/i), DeleteRange(q/, q/(i-100)),
// Get(q/i) at the latest sequence number and at a snapshot 50 steps
// behind, as a Raft log truncated while its entries are read uses a
// memtable — costs O(log² n) comparisons per step, amortised: the
// MemTable extends the List of its range tombstones (O(n log² n) in
// all) instead of rebuilding it after each range deletion (O(n² log n):
// some 10¹⁰ comparisons for this test's 20,000 steps, which it stops at
// its budget).
func TestRangeDelQueueReadsWork(t *testing.T) {
	const n = 20000
	var compares atomic.Int64
	m := New(countingComparer(&compares), 0)
	val := []byte("value-of-a-queue-item")
	lg := math.Log2(n)
	budget := int64(8 * n * lg * lg)
	for i := range n {
		require.True(t, queueStep(m, i, 50, val), "step %d: the item is not visible", i)
		if c := compares.Load(); c > budget {
			t.Fatalf("step %d of %d: %d comparisons, past the budget of %d (8 n log₂² n)", i, n, c, budget)
		}
	}
	t.Logf("%d steps: %d comparisons, %.2f n log₂² n", n, compares.Load(), float64(compares.Load())/(n*lg*lg))
}

// The contract of RangeDels against the definition, over random
// interleavings of point writes, range deletions and reads: a version k#s
// is deleted as of a reader at r when a range tombstone covering k has a
// sequence number t with s < t <= r — for readers at any sequence number,
// through the newest List and through Lists taken earlier and held while
// more tombstones came (which answer for the tombstones they had).
func TestRangeDelsModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	key := func() string { return fmt.Sprintf("k%02d", rng.IntN(30)) }
	type version struct {
		key  string
		seq  base.SeqNum
		kind base.Kind
	}
	type held struct {
		l *rangedel.List
		n int // tombstones it holds
	}
	for round := range 150 {
		m := New(base.DefaultComparer, int64(rng.IntN(2))<<20)
		var points []version
		var ts []rangedel.Tombstone
		var lists []held
		seq := base.SeqNum(0)
		for range 1 + rng.IntN(300) {
			switch op := rng.IntN(10); {
			case op < 4:
				seq++
				v := version{key(), seq, base.KindSet}
				if op == 0 {
					v.kind = base.KindDelete
				}
				m.Add(v.seq, v.kind, []byte(v.key), []byte("v"))
				points = append(points, v)
			case op < 7:
				seq++
				lo, hi := key(), key()
				if rng.IntN(2) == 0 {
					lo = "k00" // nested, as a queue's
				}
				tomb := rangedel.Tombstone{Start: []byte(lo), End: []byte(hi), Seq: seq}
				m.Add(seq, base.KindRangeDelete, tomb.Start, tomb.End)
				ts = append(ts, tomb)
			default:
				lists = append(lists, held{m.RangeDels(), len(ts)})
				for range 10 {
					h := lists[len(lists)-1]
					if rng.IntN(3) == 0 {
						h = lists[rng.IntN(len(lists))]
					}
					k, r := key(), base.SeqNum(rng.IntN(int(seq)+2))
					want, wantOK := covering(ts[:h.n], k, r)
					got, gotOK := h.l.Covering([]byte(k), r)
					where := fmt.Sprintf("round %d: key %s at %d, %d of %d tombstones", round, k, r, h.n, len(ts))
					require.Equal(t, wantOK, gotOK, where)
					require.Equal(t, want, got, where)
					p := base.SeqNum(rng.IntN(int(r) + 1))
					require.Equal(t, wantOK && want > p, h.l.Deletes([]byte(k), p, r), "%s, version #%d", where, p)
					if h.n != len(ts) {
						continue
					}
					// A read as the DB's Get reads a memtable: the newest
					// version at or below r, unless a tombstone above it
					// deletes it.
					var newest *version
					for i := range points {
						if v := &points[i]; v.key == k && v.seq <= r && (newest == nil || v.seq > newest.seq) {
							newest = v
						}
					}
					_, tr, found := m.Get([]byte(k), r)
					require.Equal(t, newest != nil, found, where)
					if found {
						require.Equal(t, newest.seq, tr.SeqNum(), where)
						require.Equal(t, wantOK && want > newest.seq, gotOK && got > tr.SeqNum(), where)
					}
				}
			}
		}
	}
}

// The writer adds range tombstones (and points) while readers take Lists
// at the sequence numbers published so far and keep some: every List
// holds each tombstone published before it was taken, and answers for any
// reader at or below what was published, as the tombstones do. Run with
// -race: what a reader holds is never written.
func TestRangeDelsConcurrent(t *testing.T) {
	const n = 3000
	rng := rand.New(rand.NewPCG(15, 16))
	ts := make([]rangedel.Tombstone, n) // tombstone i at sequence number 2i+2
	for i := range ts {
		lo, hi := rng.IntN(30), rng.IntN(31)
		if rng.IntN(2) == 0 {
			lo = 0
		}
		ts[i] = rangedel.Tombstone{Start: fmt.Appendf(nil, "k%02d", lo), End: fmt.Appendf(nil, "k%02d", hi), Seq: base.SeqNum(2*i + 2)}
	}
	m := New(base.DefaultComparer, 0)
	var published atomic.Uint64
	var reads atomic.Int64
	var done atomic.Bool
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 17))
			type held struct {
				l   *rangedel.List
				pub base.SeqNum
			}
			var old held
			for !done.Load() {
				h := held{pub: base.SeqNum(published.Load())}
				h.l = m.RangeDels()
				if want := int(h.pub / 2); h.l.Len() < want {
					t.Errorf("a List taken at %d holds %d tombstones, not %d", h.pub, h.l.Len(), want)
				}
				if old.l == nil || rng.IntN(8) == 0 {
					old = h
				}
				for _, h := range []held{h, old} {
					k, s := fmt.Sprintf("k%02d", rng.IntN(31)), base.SeqNum(rng.IntN(int(h.pub)+1))
					want, wantOK := covering(ts[:s/2], k, s)
					if got, gotOK := h.l.Covering([]byte(k), s); got != want || gotOK != wantOK {
						t.Errorf("key %s at %d: got %d,%v want %d,%v", k, s, got, gotOK, want, wantOK)
						done.Store(true)
					}
				}
				reads.Add(1)
			}
		})
	}
	for i, tomb := range ts {
		m.Add(tomb.Seq-1, base.KindSet, fmt.Appendf(nil, "k%02d", i%31), nil)
		m.Add(tomb.Seq, base.KindRangeDelete, tomb.Start, tomb.End)
		published.Store(uint64(tomb.Seq))
		if i%4 == 0 {
			for r := reads.Load(); reads.Load() == r && !done.Load(); {
				runtime.Gosched() // until a reader has read
			}
		}
	}
	done.Store(true)
	wg.Wait()
}
