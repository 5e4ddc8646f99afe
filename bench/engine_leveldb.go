package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// levelDBEngine adapts goleveldb. Get returns a fresh copy already; the
// adapter appends it to dst like the others.
type levelDBEngine struct {
	db        *leveldb.DB
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
	return &levelDBEngine{db: db, wo: wo}, settings, nil
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
