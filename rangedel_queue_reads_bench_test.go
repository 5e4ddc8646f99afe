package dkv_test

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// BenchmarkDeleteRangeQueueReads is issue 13's queue read as it goes, the
// way a Raft log truncated while its entries are read uses the DB: per
// step, Put(q/i), DeleteRange(q/, q/(i-100)) and Get(q/i), all in the
// memtable. One op is the whole run of ops steps on a fresh DB in memory.
// Before the memtable extended its range tombstones' List instead of
// rebuilding it after each range deletion, a run cost O(ops² log ops).
func BenchmarkDeleteRangeQueueReads(b *testing.B) {
	for _, ops := range []int{2000, 8000, 32000} {
		b.Run(fmt.Sprintf("ops=%d", ops), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				runQueueReads(b, ops)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*ops), "ns/step")
		})
	}
}

func runQueueReads(b *testing.B, ops int) {
	b.StopTimer()
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem(), NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	b.StartTimer()
	val := []byte("value-of-a-queue-item")
	for i := range ops {
		if err := db.Put(queueKey(i), val); err != nil {
			b.Fatal(err)
		}
		if i >= 100 {
			if err := db.DeleteRange([]byte("q/"), queueKey(i-100)); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := db.Get(queueKey(i)); err != nil {
			b.Fatalf("step %d: %v", i, err)
		}
	}
}
