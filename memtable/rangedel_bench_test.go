package memtable

import (
	"fmt"
	"testing"

	"github.com/distributedkv/dkv/internal/base"
)

// queueKey is the key of the queue's i-th item.
func queueKey(i int) []byte { return fmt.Appendf(nil, "q/%08d", i) }

// queueStep is one step of issue 13's queue, as a Raft log truncated while
// it is read uses it: Put(q/i) at sequence number 2i+1, DeleteRange(q/,
// q/(i-100)) at 2i+2, then a read of q/i as the DB's Get reads a memtable
// (the range tombstones covering it, then the tree) at the latest sequence
// number, and, when lag > 0, the same read at a reader lag steps behind
// (a snapshot). It returns whether the read at the latest sequence number
// sees the item, which it must.
func queueStep(m *MemTable, i, lag int, val []byte) bool {
	seq := base.SeqNum(2*i + 1)
	key := queueKey(i)
	m.Add(seq, base.KindSet, key, val)
	seq++
	if i >= 100 {
		m.Add(seq, base.KindRangeDelete, []byte("q/"), queueKey(i-100))
	}
	read := func(seq base.SeqNum) bool {
		rd, covered := m.RangeDels().Covering(key, seq)
		_, tr, found := m.Get(key, seq)
		return found && (!covered || tr.SeqNum() > rd)
	}
	if lag > 0 && i >= lag {
		read(seq - base.SeqNum(2*lag))
	}
	return read(seq)
}

// BenchmarkRangeDelQueueReads runs n steps of the queue (queueStep) on a
// fresh MemTable: one op is the whole run. Reads at the latest sequence
// number search what a reader above every tombstone sees; reads at a
// lagging snapshot (lag=50) search below the newest tombstone, which the
// memtable answers from histories. Before the memtable kept its
// tombstones in levels, every read after a range deletion rebuilt the
// fragments of all n tombstones: O(n² log n) per run.
func BenchmarkRangeDelQueueReads(b *testing.B) {
	val := []byte("value-of-a-queue-item")
	for _, n := range []int{1000, 4000, 16000, 64000} {
		for _, lag := range []int{0, 50} {
			b.Run(fmt.Sprintf("n=%d/lag=%d", n, lag), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m := New(base.DefaultComparer, 0)
					for i := range n {
						if !queueStep(m, i, lag, val) {
							b.Fatalf("step %d: the item is not visible", i)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/step")
			})
		}
	}
}
