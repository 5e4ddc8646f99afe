package dkv_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// queueKey is the key of the queue's i-th item.
func queueKey(i int) []byte { return fmt.Appendf(nil, "q/%08d", i) }

// BenchmarkDeleteRangeQueue runs the queue of issue 13 through its whole
// life: ops items, each a Put of the next key and a DeleteRange from the
// queue's start to 100 items back (so every range tombstone covers every
// earlier one; 101 items stay), with three snapshots taken along the way; then Gets at the
// snapshots and a scan from the memtable, a flush, a scan of the L0 table,
// and a full compaction. One op is the whole run, on a fresh DB in
// memory. L0-bytes is the size of the table the flush wrote: with the range
// tombstones kept only as readers can tell them apart, it grows with ops,
// not with ops squared.
func BenchmarkDeleteRangeQueue(b *testing.B) {
	for _, ops := range []int{1000, 4000, 16000} {
		b.Run(fmt.Sprintf("ops=%d", ops), func(b *testing.B) {
			b.ReportAllocs()
			var l0 int64
			for range b.N {
				l0 += runQueue(b, ops)
			}
			b.ReportMetric(float64(l0)/float64(b.N), "L0-bytes")
		})
	}
}

// runQueue is one op of BenchmarkDeleteRangeQueue. It returns the bytes
// the flush wrote.
func runQueue(b *testing.B, ops int) int64 {
	b.StopTimer()
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem(), NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	b.StartTimer()
	check := func(err error) {
		if err != nil && !errors.Is(err, dkv.ErrNotFound) {
			b.Fatal(err)
		}
	}
	var snaps []*dkv.Snapshot
	val := []byte("value-of-a-queue-item")
	for i := range ops {
		check(db.Put(queueKey(i), val))
		if i >= 100 {
			check(db.DeleteRange([]byte("q/"), queueKey(i-100)))
		}
		if (i+1)%(ops/4) == 0 && len(snaps) < 3 {
			snaps = append(snaps, db.NewSnapshot())
		}
	}
	scan := func() {
		it, err := db.NewIter(nil)
		check(err)
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		check(it.Close())
		if n != 101 {
			b.Fatalf("the queue holds %d items, want 101", n)
		}
	}
	for _, s := range snaps {
		_, err := s.Get(queueKey(0))
		check(err)
		_, err = s.Get(queueKey(ops / 8))
		check(err)
	}
	scan()
	check(db.Flush())
	scan()
	check(db.Compact(context.Background(), nil, nil))
	scan()
	for _, s := range snaps {
		check(s.Close())
	}
	b.StopTimer()
	l0 := db.Metrics().Flush.Bytes
	b.StartTimer()
	return l0
}
