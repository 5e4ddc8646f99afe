package dkv_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distributedkv/dkv"
)

// Benchmarks of the write and read paths on the OS filesystem, with
// db_bench's shapes: 16-byte keys, 100-byte values that compress to about
// half. Compare runs with benchstat; see the Makefile's bench target.

const benchValueSize = 100

func benchKey(buf []byte, i uint64) []byte {
	buf = append(buf[:0], "key:"...)
	buf = binary.BigEndian.AppendUint64(buf, i)
	return append(buf, "...."...)
}

func benchValue(rng *rand.Rand) []byte {
	v := make([]byte, benchValueSize)
	for i := range benchValueSize / 2 {
		v[i] = byte('a' + rng.IntN(26))
	}
	for i := benchValueSize / 2; i < benchValueSize; i++ {
		v[i] = 'x'
	}
	return v
}

func openBench(b *testing.B, noSync bool) *dkv.DB {
	b.Helper()
	db, err := dkv.Open(b.TempDir(), &dkv.Options{NoSync: noSync, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

// BenchmarkPut writes one key per op from one goroutine: sequential or
// random keys, without and with fsync.
func BenchmarkPut(b *testing.B) {
	for _, c := range []struct {
		name   string
		noSync bool
		random bool
	}{
		{"NoSync/seq", true, false},
		{"NoSync/random", true, true},
		{"Sync/seq", false, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			db := openBench(b, c.noSync)
			rng := rand.New(rand.NewPCG(1, 2))
			val := benchValue(rng)
			key := make([]byte, 0, 16)
			b.SetBytes(16 + benchValueSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k := uint64(i)
				if c.random {
					k = rng.Uint64()
				}
				if err := db.Put(benchKey(key, k), val); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPutSyncParallel runs synced Puts from 1, 8 and 64 goroutines:
// group commit shows as throughput growing with the goroutines, since they
// share fsyncs. ops/fsync is reported.
func BenchmarkPutSyncParallel(b *testing.B) {
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			db := openBench(b, false)
			val := benchValue(rand.New(rand.NewPCG(1, 2)))
			var next atomic.Uint64
			before := db.Metrics().WAL.Syncs
			b.SetBytes(16 + benchValueSize)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range g {
				wg.Go(func() {
					key := make([]byte, 0, 16)
					for {
						i := next.Add(1)
						if i > uint64(b.N) {
							return
						}
						if err := db.Put(benchKey(key, i), val); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			syncs := db.Metrics().WAL.Syncs - before
			b.ReportMetric(float64(b.N)/float64(max(syncs, 1)), "ops/fsync")
		})
	}
}

// BenchmarkWriteBatch writes batches of 100 Puts without fsync; a op is one
// batch.
func BenchmarkWriteBatch(b *testing.B) {
	const perBatch = 100
	db := openBench(b, true)
	val := benchValue(rand.New(rand.NewPCG(1, 2)))
	batch := db.NewBatch()
	key := make([]byte, 0, 16)
	b.SetBytes(perBatch * (16 + benchValueSize))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		batch.Reset()
		for j := range perBatch {
			_ = batch.Put(benchKey(key, uint64(i*perBatch+j)), val)
		}
		if err := db.Write(batch, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet reads random existing keys from a memtable of 1M keys.
func BenchmarkGet(b *testing.B) {
	const n = 1 << 20
	db := openBench(b, true)
	fillSeq(b, db, n)
	rng := rand.New(rand.NewPCG(1, 2))
	key := make([]byte, 0, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := db.Get(benchKey(key, rng.Uint64N(n))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetFromTables reads random existing keys after the 1M keys were
// flushed to L0 tables: the block cache holds them (64 MiB default) or not
// (CacheSize -1: every lookup reads its block from the OS).
func BenchmarkGetFromTables(b *testing.B) {
	const n = 1 << 20
	for _, cached := range []bool{true, false} {
		b.Run(fmt.Sprintf("cache=%v", cached), func(b *testing.B) {
			o := &dkv.Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)}
			if !cached {
				o.CacheSize = -1
			}
			db, err := dkv.Open(b.TempDir(), o)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = db.Close() })
			fillSeq(b, db, n)
			rng := rand.New(rand.NewPCG(1, 2))
			key := make([]byte, 0, 16)
			if err := db.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := db.Get(benchKey(key, rng.Uint64N(n))); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(db.Metrics().Levels[0].Files), "L0-tables")
		})
	}
}

// fillSeq writes keys 0 to n-1 (benchKey) with the bench value, in
// batches of 1,000.
func fillSeq(b *testing.B, db *dkv.DB, n int) {
	b.Helper()
	val := benchValue(rand.New(rand.NewPCG(1, 2)))
	key := make([]byte, 0, 16)
	batch := db.NewBatch()
	defer batch.Close()
	for i := range n {
		_ = batch.Put(benchKey(key, uint64(i)), val)
		if batch.Len() == 1000 || i == n-1 {
			if err := db.Write(batch, nil); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
}

// loadBench fills a DB in b.TempDir() with n sequential keys, flushes and
// compacts it, and returns it.
func loadBench(b *testing.B, n int) *dkv.DB {
	b.Helper()
	db := openBench(b, true)
	fillSeq(b, db, n)
	if err := db.Compact(context.Background(), nil, nil); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkScan iterates over 1M keys in order (an op is one key; MB/s
// counts keys and values), forward and backward.
func BenchmarkScan(b *testing.B) {
	const n = 1 << 20
	db := loadBench(b, n)
	for _, reverse := range []bool{false, true} {
		b.Run(fmt.Sprintf("reverse=%v", reverse), func(b *testing.B) {
			it, err := db.NewIter(nil)
			if err != nil {
				b.Fatal(err)
			}
			defer it.Close()
			b.SetBytes(16 + benchValueSize)
			b.ResetTimer()
			ok := false
			for range b.N {
				switch {
				case ok && !reverse:
					ok = it.Next()
				case ok:
					ok = it.Prev()
				case !reverse:
					ok = it.First()
				default:
					ok = it.Last()
				}
				if !ok {
					if err := it.Error(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkSeek measures SeekGE to a random key of 1M, alone and followed by
// 10 Next (db_bench's seekrandom).
func BenchmarkSeek(b *testing.B) {
	const n = 1 << 20
	db := loadBench(b, n)
	for _, nexts := range []int{0, 10} {
		b.Run(fmt.Sprintf("next=%d", nexts), func(b *testing.B) {
			it, err := db.NewIter(nil)
			if err != nil {
				b.Fatal(err)
			}
			defer it.Close()
			rng := rand.New(rand.NewPCG(3, 4))
			key := make([]byte, 0, 16)
			b.ResetTimer()
			for range b.N {
				if !it.SeekGE(benchKey(key, rng.Uint64N(n))) {
					b.Fatal("seek found nothing", it.Error())
				}
				for range nexts {
					it.Next()
				}
			}
		})
	}
}

// BenchmarkFillRandomWriteAmp writes keys in random order without fsync and
// reports the write amplification the DB measured: bytes written to the
// log, flushes and compactions per byte of keys and values.
func BenchmarkFillRandomWriteAmp(b *testing.B) {
	db := openBench(b, true)
	rng := rand.New(rand.NewPCG(5, 6))
	val := benchValue(rng)
	key := make([]byte, 0, 16)
	b.SetBytes(16 + benchValueSize)
	b.ResetTimer()
	for range b.N {
		if err := db.Put(benchKey(key, rng.Uint64()), val); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	for db.Metrics().Compaction.Running > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	m := db.Metrics()
	b.ReportMetric(m.WriteAmp, "write-amp")
	b.ReportMetric(float64(m.ReadAmp), "read-amp")
}

// BenchmarkRangeDels measures reads through range tombstones: 1M keys
// compacted into tables, then 1,000 range deletions of 16 keys each (in
// the memtable, or flushed to an L0 table), then random Gets (hits and
// deleted keys alike) and a new iterator scanning 1,000 keys.
func BenchmarkRangeDels(b *testing.B) {
	const n, dels = 1 << 20, 1000
	for _, flushed := range []bool{false, true} {
		db := loadBench(b, n)
		key := make([]byte, 0, 16)
		end := make([]byte, 0, 16)
		for i := range dels {
			start := uint64(i) * (n / dels)
			if err := db.DeleteRange(benchKey(key, start), benchKey(end, start+16)); err != nil {
				b.Fatal(err)
			}
		}
		if flushed {
			if err := db.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		where := map[bool]string{false: "memtable", true: "L0"}[flushed]
		rng := rand.New(rand.NewPCG(1, 2))
		b.Run("get/tombstones-in="+where, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := db.Get(benchKey(key, rng.Uint64N(n))); err != nil && !errors.Is(err, dkv.ErrNotFound) {
					b.Fatal(err)
				}
			}
		})
		b.Run("iter1000/tombstones-in="+where, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				it, err := db.NewIter(nil)
				if err != nil {
					b.Fatal(err)
				}
				it.SeekGE(benchKey(key, rng.Uint64N(n)))
				for i := 0; i < 1000 && it.Valid(); i++ {
					it.Next()
				}
				if err := it.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
		_ = db.Close()
	}
}

// BenchmarkSeekNewIter is db_bench's seekrandom as the comparison harness
// runs it: a new iterator per seek, then 10 Next, over 1M keys written in
// random order and left in whatever shape background compaction gave them
// (several levels, some L0 tables).
func BenchmarkSeekNewIter(b *testing.B) {
	const n = 1 << 20
	db := openBench(b, true)
	rng := rand.New(rand.NewPCG(1, 2))
	val := benchValue(rng)
	key := make([]byte, 0, 16)
	for range n {
		if err := db.Put(benchKey(key, rng.Uint64N(n)), val); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	m := db.Metrics()
	tables := 0
	for _, l := range m.Levels {
		tables += l.Files
	}
	b.Run("next=10", func(b *testing.B) { // the setup above runs once
		b.ReportAllocs()
		for range b.N {
			it, err := db.NewIter(nil)
			if err != nil {
				b.Fatal(err)
			}
			ok := it.SeekGE(benchKey(key, rng.Uint64N(n)))
			for i := 0; ok && i < 10; i++ {
				ok = it.Next()
			}
			if err := it.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(m.Levels[0].Files), "L0-tables")
		b.ReportMetric(float64(tables), "tables")
	})
}

// dbBenchKey is db_bench's key for index i: 8 big-endian bytes padded
// with '0' to 16 bytes (bench/'s keys).
func dbBenchKey(buf []byte, i uint64) []byte {
	buf = binary.BigEndian.AppendUint64(buf[:0], i)
	return append(buf, "00000000"...)
}

// BenchmarkMemTableResident reads 300k random keys that are all still in
// the memtable (issue 14's first regime, with db_bench's keys and values):
// a scan step (readseq), a new iterator with a seek and 10 Next
// (seekrandom), and a Get (readrandom).
func BenchmarkMemTableResident(b *testing.B) {
	const n = 300_000
	db := openBench(b, true)
	rng := rand.New(rand.NewPCG(1, 2))
	val := benchValue(rng)
	key := make([]byte, 0, 16)
	benchKey := dbBenchKey
	for range n {
		if err := db.Put(benchKey(key, rng.Uint64N(n)), val); err != nil {
			b.Fatal(err)
		}
	}
	if m := db.Metrics(); m.Levels[0].Files > 0 || m.MemTable.Immutable > 0 {
		b.Fatalf("the keys left the memtable:\n%s", m)
	}
	b.Run("op=scan", func(b *testing.B) {
		it, err := db.NewIter(nil)
		if err != nil {
			b.Fatal(err)
		}
		defer it.Close()
		ok := false
		for range b.N {
			if ok {
				ok = it.Next()
			} else {
				ok = it.First()
			}
		}
	})
	b.Run("op=seek-next10", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			it, err := db.NewIter(nil)
			if err != nil {
				b.Fatal(err)
			}
			ok := it.SeekGE(benchKey(key, rng.Uint64N(n)))
			for i := 0; ok && i < 10; i++ {
				ok = it.Next()
			}
			if err := it.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=get", func(b *testing.B) {
		for range b.N {
			_, err := db.Get(benchKey(key, rng.Uint64N(n)))
			if err != nil && !errors.Is(err, dkv.ErrNotFound) {
				b.Fatal(err)
			}
		}
	})
}
