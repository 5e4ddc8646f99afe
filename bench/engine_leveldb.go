package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// levelDBEngine adapts goleveldb. Get returns a fresh copy already; the
// adapter appends it to dst like the others.
type levelDBEngine struct {
	db        *leveldb.DB
	o         *opt.Options
	wo        *opt.WriteOptions
	userBytes atomic.Int64 // keys and values written since Open, for WriteAmp
}

func openLevelDB(dir string, cfg Config) (Engine, []Setting, error) {
	o := &opt.Options{
		BlockCacheCapacity: int(cfg.CacheSize),
		Filter:             filter.NewBloomFilter(cfg.BloomBits),
		WriteBuffer:        int(cfg.MemTable), // 0: the default, 4 MiB
	}
	db, err := leveldb.OpenFile(dir, o)
	if err != nil {
		return nil, nil, err
	}
	wo := &opt.WriteOptions{Sync: cfg.Sync}
	settings := []Setting{
		{"wal", "on (journal)"},
		{"sync", fmt.Sprintf("WriteOptions.Sync=%v", wo.Sync)},
		{"block cache", mib(int64(o.GetBlockCacheCapacity()))},
		{"bloom filter", fmt.Sprintf("filter.NewBloomFilter(%d)", cfg.BloomBits)},
		{"memtable", mib(int64(o.GetWriteBuffer()))},
		{"compression", "default: " + compressionName(o.GetCompression())},
		{"block size", fmt.Sprintf("%d KiB", o.GetBlockSize()>>10)},
	}
	if cfg.Settle {
		settings = append(settings, Setting{"settle", "no level score ≥ 1 (computed as goleveldb does from leveldb.stats: L0 tables / CompactionL0Trigger, " +
			"deeper levels' size / GetCompactionTotalSize), leveldb.stats and leveldb.iostats still for the quiet period (its memtable flushes are not reported)"})
	}
	return &levelDBEngine{db: db, o: o, wo: wo}, settings, nil
}

func compressionName(c opt.Compression) string {
	switch c {
	case opt.SnappyCompression:
		return "snappy"
	case opt.NoCompression:
		return "none"
	}
	return c.String()
}

func (e *levelDBEngine) Put(key, value []byte) error {
	e.userBytes.Add(int64(len(key) + len(value)))
	return e.db.Put(key, value, e.wo)
}

func (e *levelDBEngine) Delete(key []byte) error {
	e.userBytes.Add(int64(len(key)))
	return e.db.Delete(key, e.wo)
}

func (e *levelDBEngine) Close() error { return e.db.Close() }

func (e *levelDBEngine) Get(key, dst []byte) ([]byte, bool, error) {
	v, err := e.db.Get(key, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return dst[:0], false, nil
	}
	if err != nil {
		return dst[:0], false, err
	}
	return append(dst[:0], v...), true, nil
}

// WriteAmp divides the bytes goleveldb's storage layer reports written (its
// "leveldb.iostats": journal, tables, manifest) by the user's bytes.
func (e *levelDBEngine) WriteAmp() (float64, bool) {
	s, err := e.db.GetProperty("leveldb.iostats") // "Read(MB):%.5f Write(MB):%.5f"
	user := e.userBytes.Load()
	if err != nil || user == 0 {
		return 0, false
	}
	i := strings.Index(s, "Write(MB):")
	if i < 0 {
		return 0, false
	}
	mb, err := strconv.ParseFloat(strings.TrimSpace(s[i+len("Write(MB):"):]), 64)
	if err != nil {
		return 0, false
	}
	return mb * (1 << 20) / float64(user), true
}

// Activity: goleveldb reports no running flush or compaction, so it
// computes each level's compaction score the way goleveldb's
// version.computeCompaction does, from the tables and sizes of
// "leveldb.stats"; the per-level compaction counters of the same
// property and the storage byte counts of "leveldb.iostats" are the
// progress, which a memtable flush moves too.
func (e *levelDBEngine) Activity() Activity {
	stats, err := e.db.GetProperty("leveldb.stats")
	if err != nil {
		return Activity{Progress: err.Error()}
	}
	iostats, _ := e.db.GetProperty("leveldb.iostats")
	a := Activity{Progress: stats + iostats}
	for _, l := range parseLevelDBStats(stats) {
		score := l.sizeMB * (1 << 20) / float64(e.o.GetCompactionTotalSize(l.level))
		if l.level == 0 {
			score = float64(l.tables) / float64(e.o.GetCompactionL0Trigger())
		}
		if score >= 1 {
			a.Needed = append(a.Needed, fmt.Sprintf("L%d score %.2f", l.level, score))
		}
	}
	return a
}

// Quiet is longer than for engines that report their running work: a
// memtable flush shows only as moving counters.
func (e *levelDBEngine) Quiet() time.Duration { return 500 * time.Millisecond }

// levelDBLevel is one row of goleveldb's "leveldb.stats".
type levelDBLevel struct {
	level, tables int
	sizeMB        float64
}

// parseLevelDBStats reads the rows of "leveldb.stats":
//
//	" Level |   Tables   |    Size(MB)   |    Time(sec)  |    Read(MB)   |   Write(MB)"
//	"   0   |          3 |       1.50000 | ..."
func parseLevelDBStats(s string) []levelDBLevel {
	var out []levelDBLevel
	for _, line := range strings.Split(s, "\n") {
		f := strings.Split(line, "|")
		if len(f) < 3 {
			continue
		}
		level, err1 := strconv.Atoi(strings.TrimSpace(f[0]))
		tables, err2 := strconv.Atoi(strings.TrimSpace(f[1]))
		size, err3 := strconv.ParseFloat(strings.TrimSpace(f[2]), 64)
		if err1 == nil && err2 == nil && err3 == nil {
			out = append(out, levelDBLevel{level, tables, size})
		}
	}
	return out
}

func (e *levelDBEngine) NewBatch() Batch { return &levelDBBatch{e: e} }

type levelDBBatch struct {
	e     *levelDBEngine
	b     leveldb.Batch
	bytes int64
}

func (b *levelDBBatch) Put(key, value []byte) {
	b.bytes += int64(len(key) + len(value))
	b.b.Put(key, value)
}

func (b *levelDBBatch) Delete(key []byte) {
	b.bytes += int64(len(key))
	b.b.Delete(key)
}

func (b *levelDBBatch) Commit() error {
	b.e.userBytes.Add(b.bytes)
	return b.e.db.Write(&b.b, b.e.wo)
}

func (e *levelDBEngine) NewIter() (Iter, error) {
	return &levelDBIter{it: e.db.NewIterator(nil, nil)}, nil
}

type levelDBIter struct{ it iterator.Iterator }

func (i *levelDBIter) First() bool            { return i.it.First() }
func (i *levelDBIter) Last() bool             { return i.it.Last() }
func (i *levelDBIter) SeekGE(key []byte) bool { return i.it.Seek(key) }
func (i *levelDBIter) Next() bool             { return i.it.Next() }
func (i *levelDBIter) Prev() bool             { return i.it.Prev() }
func (i *levelDBIter) Key() []byte            { return i.it.Key() }
func (i *levelDBIter) Value() []byte          { return i.it.Value() }

func (i *levelDBIter) Close() error {
	i.it.Release()
	return i.it.Error()
}
