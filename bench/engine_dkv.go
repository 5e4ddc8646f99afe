package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/distributedkv/dkv"
)

// dkvEngine adapts dkv. Get already returns the caller's own copy; the
// adapter appends it to dst like the others.
type dkvEngine struct{ db *dkv.DB }

func openDKV(dir string, cfg Config) (Engine, []Setting, error) {
	opts := &dkv.Options{
		NoSync:          !cfg.Sync,
		CacheSize:       cfg.CacheSize,
		BloomBitsPerKey: cfg.BloomBits,
		MemTableSize:    cfg.MemTable, // 0: the default, 64 MiB
		Logger:          slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	db, err := dkv.Open(dir, opts)
	if err != nil {
		return nil, nil, err
	}
	eff := opts.EnsureDefaults() // Open used its own copy; this shows the values it used
	settings := []Setting{
		{"wal", "on"},
		{"sync", fmt.Sprintf("Options.NoSync=%v", opts.NoSync)},
		{"block cache", mib(eff.CacheSize)},
		{"bloom filter", fmt.Sprintf("%d bits/key", eff.BloomBitsPerKey)},
		{"memtable", mib(eff.MemTableSize)},
		{"compression", fmt.Sprintf("default: %s L0-L5, %s L6", eff.Levels[0].Compression, eff.Levels[dkv.NumLevels-1].Compression)},
		{"block size", fmt.Sprintf("%d KiB", eff.Levels[0].BlockSize>>10)},
		{"compactions", fmt.Sprintf("%d concurrent (default)", eff.MaxConcurrentCompactions)},
	}
	if cfg.Settle {
		settings = append(settings, Setting{"settle", "Metrics: no memtable waiting for its flush (MemTable.Immutable), " +
			"no compaction running (Compaction.Running), no level score ≥ 1; flush, compaction and log counters still for the quiet period"})
	}
	return &dkvEngine{db: db}, settings, nil
}

func (e *dkvEngine) Put(key, value []byte) error { return e.db.Put(key, value) }
func (e *dkvEngine) Delete(key []byte) error     { return e.db.Delete(key) }
func (e *dkvEngine) Close() error                { return e.db.Close() }

func (e *dkvEngine) Get(key, dst []byte) ([]byte, bool, error) {
	v, err := e.db.Get(key)
	if errors.Is(err, dkv.ErrNotFound) {
		return dst[:0], false, nil
	}
	if err != nil {
		return dst[:0], false, err
	}
	return append(dst[:0], v...), true, nil
}

func (e *dkvEngine) WriteAmp() (float64, bool) { return e.db.Metrics().WriteAmp, true }

// Activity reads dkv's Metrics: a memtable waiting for its flush stays in
// MemTable.Immutable until the flush is installed, and a level with a
// score of 1 or more is one the picker compacts. The snapshot is not
// atomic (the levels are read before Compaction.Running), but every
// mismatch errs towards waiting: nothing but user writes creates work.
func (e *dkvEngine) Activity() Activity {
	m := e.db.Metrics()
	a := Activity{Running: m.MemTable.Immutable + m.Compaction.Running}
	for level, l := range m.Levels {
		if l.Score >= 1 {
			a.Needed = append(a.Needed, fmt.Sprintf("L%d score %.2f", level, l.Score))
		}
	}
	a.Progress = fmt.Sprint(m.Flush.Count, m.Flush.Errors, m.Compaction.Count, m.Compaction.BytesWritten,
		m.Compaction.Errors, m.WAL.Bytes)
	return a
}

// Quiet is short: Running and Needed say all that is pending.
func (e *dkvEngine) Quiet() time.Duration { return 200 * time.Millisecond }

func (e *dkvEngine) NewBatch() Batch { return &dkvBatch{db: e.db, b: e.db.NewBatch()} }

type dkvBatch struct {
	db  *dkv.DB
	b   *dkv.Batch
	err error
}

func (b *dkvBatch) Put(key, value []byte) {
	if err := b.b.Put(key, value); err != nil && b.err == nil {
		b.err = err
	}
}

func (b *dkvBatch) Delete(key []byte) {
	if err := b.b.Delete(key); err != nil && b.err == nil {
		b.err = err
	}
}

func (b *dkvBatch) Commit() error {
	defer b.b.Close() // back to the pool, as the Pebble adapter closes its batches
	if b.err != nil {
		return b.err
	}
	return b.db.Write(b.b, nil) // nil: the DB's default, synced unless NoSync
}

func (e *dkvEngine) NewIter() (Iter, error) {
	it, err := e.db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	return it, nil // *dkv.Iterator has exactly the Iter methods
}
