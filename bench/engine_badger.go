package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	badgeropts "github.com/dgraph-io/badger/v4/options"
)

// badgerEngine adapts Badger. Every operation runs in a transaction, as
// Badger requires: a read-only one for Get and iterators, a read-write one
// per Put, Delete and batch.
type badgerEngine struct{ db *badger.DB }

func openBadger(dir string, cfg Config) (Engine, []Setting, error) {
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(cfg.Sync).
		WithBlockCacheSize(cfg.CacheSize).
		WithLogger(quietLogger{prefix: "badger: "})
	if cfg.BloomBits > 0 {
		// Badger sizes its filter by false-positive rate; 10 bits/key
		// give about 1%, its default.
		opts = opts.WithBloomFalsePositive(bloomFalsePositive(cfg.BloomBits))
	}
	if cfg.MemTable > 0 {
		opts = opts.WithMemTableSize(cfg.MemTable)
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, nil, err
	}
	settings := []Setting{
		{"wal", "on (memtable log, .mem files, mmap)"},
		{"sync", fmt.Sprintf("SyncWrites=%v", opts.SyncWrites)},
		{"block cache", mib(opts.BlockCacheSize)},
		{"bloom filter", fmt.Sprintf("false-positive rate %.4f (≈%d bits/key)", opts.BloomFalsePositive, cfg.BloomBits)},
		{"memtable", mib(opts.MemTableSize)},
		{"compression", "default: " + badgerCompression(opts.Compression)},
		{"block size", fmt.Sprintf("%d KiB", opts.BlockSize>>10)},
		{"value log", fmt.Sprintf("values below ValueThreshold=%d B stay in the LSM", opts.ValueThreshold)},
		{"compactions", fmt.Sprintf("NumCompactors=%d (default)", opts.NumCompactors)},
	}
	if cfg.Settle {
		settings = append(settings, Setting{"settle", "a quiet period: the levels' tables and sizes (DB.Levels) and the process's bytes written still; " +
			"L0 score ≥ 1 or an adjusted score ≥ 1 (what its compactors run) counts as needed work; Badger reports no running flush or compaction"})
	}
	return &badgerEngine{db: db}, settings, nil
}

// bloomFalsePositive is the false-positive rate of a bloom filter with
// bits bits per key and the best number of probes: 0.6185^bits.
func bloomFalsePositive(bits int) float64 {
	p := 1.0
	for range bits {
		p *= 0.6185
	}
	return p
}

func badgerCompression(c badgeropts.CompressionType) string {
	switch c {
	case badgeropts.None:
		return "none"
	case badgeropts.Snappy:
		return "snappy"
	case badgeropts.ZSTD:
		return "zstd"
	}
	return fmt.Sprint(c)
}

func (e *badgerEngine) Put(key, value []byte) error {
	// Update returns after the write is in the memtable, so the caller may
	// reuse key and value afterwards.
	return e.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
}

func (e *badgerEngine) Delete(key []byte) error {
	return e.db.Update(func(txn *badger.Txn) error { return txn.Delete(key) })
}

func (e *badgerEngine) Close() error { return e.db.Close() }

func (e *badgerEngine) Get(key, dst []byte) ([]byte, bool, error) {
	found := false
	err := e.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		dst, err = item.ValueCopy(dst[:0])
		found = err == nil
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return dst[:0], false, nil
	}
	return dst, found, err
}

// WriteAmp: Badger reports no write amplification of its own.
func (e *badgerEngine) WriteAmp() (float64, bool) { return 0, false }

// Activity: Badger reports neither its memtable flushes nor its running
// compactions, only its levels (DB.Levels): their tables and sizes are the
// progress, and a level its compactors would pick is needed work —
// compactor 0 runs L0 whenever its score reaches 1, any compactor a level
// whose adjusted score does.
func (e *badgerEngine) Activity() Activity {
	var a Activity
	var b strings.Builder
	for _, l := range e.db.Levels() {
		fmt.Fprintf(&b, "%d:%d:%d ", l.Level, l.NumTables, l.Size)
		if (l.Level == 0 && l.Score >= 1) || l.Adjusted >= 1 {
			a.Needed = append(a.Needed, fmt.Sprintf("L%d score %.2f (adjusted %.2f)", l.Level, l.Score, l.Adjusted))
		}
	}
	a.Progress = b.String()
	return a
}

// Quiet is the longest: the counters are all Badger tells, and its
// compactors look for work every 50 ms.
func (e *badgerEngine) Quiet() time.Duration { return time.Second }

func (e *badgerEngine) NewBatch() Batch { return &badgerBatch{db: e.db} }

// badgerBatch collects the writes and applies them in one transaction.
// Badger keeps references to what Txn.Set is given until Commit, so the
// batch copies keys and values into its own buffer.
type badgerBatch struct {
	db  *badger.DB
	buf []byte
	ops []badgerOp
}

type badgerOp struct {
	k, v   [2]int // [start, end) in buf
	delete bool
}

func (b *badgerBatch) add(key, value []byte, del bool) {
	op := badgerOp{delete: del}
	op.k = [2]int{len(b.buf), len(b.buf) + len(key)}
	b.buf = append(b.buf, key...)
	op.v = [2]int{len(b.buf), len(b.buf) + len(value)}
	b.buf = append(b.buf, value...)
	b.ops = append(b.ops, op)
}

func (b *badgerBatch) Put(key, value []byte) { b.add(key, value, false) }
func (b *badgerBatch) Delete(key []byte)     { b.add(key, nil, true) }

func (b *badgerBatch) Commit() error {
	txn := b.db.NewTransaction(true)
	defer txn.Discard()
	for _, op := range b.ops {
		k := b.buf[op.k[0]:op.k[1]:op.k[1]]
		var err error
		if op.delete {
			err = txn.Delete(k)
		} else {
			err = txn.Set(k, b.buf[op.v[0]:op.v[1]:op.v[1]])
		}
		if err != nil {
			return err
		}
	}
	return txn.Commit()
}

// badgerIter serves both directions from one read-only transaction: a
// Badger iterator's direction is fixed when it is created, so the adapter
// keeps a forward and a reverse one and switches between them.
type badgerIter struct {
	txn      *badger.Txn
	fwd, rev *badger.Iterator
	cur      *badger.Iterator
	val      []byte
}

func (e *badgerEngine) NewIter() (Iter, error) {
	return &badgerIter{txn: e.db.NewTransaction(false)}, nil
}

func (i *badgerIter) forward() *badger.Iterator {
	if i.fwd == nil {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false // values are read on demand, like the other engines
		i.fwd = i.txn.NewIterator(o)
	}
	i.cur = i.fwd
	return i.fwd
}

func (i *badgerIter) reverse() *badger.Iterator {
	if i.rev == nil {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		o.Reverse = true
		i.rev = i.txn.NewIterator(o)
	}
	i.cur = i.rev
	return i.rev
}

func (i *badgerIter) First() bool { it := i.forward(); it.Rewind(); return it.Valid() }
func (i *badgerIter) Last() bool  { it := i.reverse(); it.Rewind(); return it.Valid() }

func (i *badgerIter) SeekGE(key []byte) bool {
	it := i.forward()
	it.Seek(key)
	return it.Valid()
}

func (i *badgerIter) Next() bool { return i.step(i.rev, i.forward) }
func (i *badgerIter) Prev() bool { return i.step(i.fwd, i.reverse) }

// step moves one key in the direction of want; when the iterator is
// positioned by the other direction's iterator, want's is sought to the
// current key first.
func (i *badgerIter) step(other *badger.Iterator, want func() *badger.Iterator) bool {
	if i.cur == nil || !i.cur.Valid() {
		return false
	}
	if i.cur == other {
		key := i.cur.Item().KeyCopy(nil)
		it := want()
		it.Seek(key)
		if it.Valid() && bytes.Equal(it.Item().Key(), key) {
			it.Next()
		}
		return it.Valid()
	}
	i.cur.Next()
	return i.cur.Valid()
}

func (i *badgerIter) Key() []byte { return i.cur.Item().Key() }

// Value copies the value into a buffer the iterator reuses: Badger hands
// values out through a callback or a copy.
func (i *badgerIter) Value() []byte {
	v, err := i.cur.Item().ValueCopy(i.val[:0])
	if err != nil {
		return nil
	}
	i.val = v
	return v
}

func (i *badgerIter) Close() error {
	if i.fwd != nil {
		i.fwd.Close()
	}
	if i.rev != nil {
		i.rev.Close()
	}
	i.txn.Discard()
	return nil
}
