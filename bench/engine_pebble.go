package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// pebbleEngine adapts Pebble. Get returns a slice into Pebble's memory that
// is valid until the closer is closed: the adapter copies it into dst.
type pebbleEngine struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

func openPebble(dir string, cfg Config) (Engine, []Setting, error) {
	opts := &pebble.Options{Logger: quietLogger{prefix: "pebble: "}}
	if cfg.MemTable > 0 {
		opts.MemTableSize = uint64(cfg.MemTable)
	}
	// Pebble has no filter by default: set the bloom filter on every level
	// (EnsureDefaults copies L0's to the levels below).
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(cfg.BloomBits)
	}
	opts.EnsureDefaults()
	// Pebble charges its memtables to its block cache (Cache.Reserve): the
	// live one and the flushed one it keeps to recycle, each reserving its
	// full size. With CacheSize 64 MiB and 64 MiB memtables no block would
	// stay cached (measured: 0 entries, every read from the file). The
	// other engines keep memtables apart from their cache, so Pebble's
	// cache gets two memtables more: the aligned size is left for blocks
	// (less while a third memtable waits for its flush).
	opts.CacheSize = cfg.CacheSize + 2*int64(opts.MemTableSize)
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, nil, err
	}
	wo := pebble.NoSync
	if cfg.Sync {
		wo = pebble.Sync
	}
	settings := []Setting{
		{"wal", fmt.Sprintf("on (DisableWAL=%v)", opts.DisableWAL)},
		{"sync", fmt.Sprintf("WriteOptions.Sync=%v", wo.Sync)},
		{"block cache", fmt.Sprintf("CacheSize %s = %s for blocks + 2 × %s for the memtables Pebble charges to it", mib(opts.CacheSize), mib(cfg.CacheSize), mib(int64(opts.MemTableSize)))},
		{"bloom filter", fmt.Sprintf("bloom.FilterPolicy(%d) on L0-L6", cfg.BloomBits)},
		{"memtable", mib(int64(opts.MemTableSize))},
		{"compression", "default: " + opts.Levels[0].Compression().Name + " on every level"},
		{"block size", fmt.Sprintf("%d KiB", opts.Levels[0].BlockSize>>10)},
		{"format", fmt.Sprintf("FormatMajorVersion %d (default: the oldest supported)", db.FormatMajorVersion())},
		{"compactions", "default concurrency"},
	}
	if cfg.Settle {
		settings = append(settings, Setting{"settle", "Metrics: no flush or compaction in progress (Flush.NumInProgress, Compact.NumInProgress), " +
			"no level L0-L5 with a score > 0 (Pebble's own: it needs a compaction), no table marked for one; flush and compaction counters still for the quiet period"})
	}
	return &pebbleEngine{db: db, wo: wo}, settings, nil
}

func (e *pebbleEngine) Put(key, value []byte) error { return e.db.Set(key, value, e.wo) }
func (e *pebbleEngine) Delete(key []byte) error     { return e.db.Delete(key, e.wo) }
func (e *pebbleEngine) Close() error                { return e.db.Close() }

func (e *pebbleEngine) Get(key, dst []byte) ([]byte, bool, error) {
	v, closer, err := e.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst[:0], false, nil
	}
	if err != nil {
		return dst[:0], false, err
	}
	dst = append(dst[:0], v...)
	return dst, true, closer.Close()
}

// WriteAmp is Pebble's own total: (WAL + flushed + compacted bytes) / WAL
// bytes, as in its metrics table.
func (e *pebbleEngine) WriteAmp() (float64, bool) {
	t := e.db.Metrics().Total()
	return t.WriteAmp(), true
}

// Activity reads Pebble's Metrics, a snapshot taken under its mutex. Its
// queued immutable memtables are not work in themselves: Pebble flushes
// them only once they add up to half a memtable (its memtables grow from
// 256 KiB), and when they do the flush is in progress at once.
func (e *pebbleEngine) Activity() Activity {
	m := e.db.Metrics()
	a := Activity{Running: int(m.Flush.NumInProgress + m.Compact.NumInProgress)}
	var written uint64
	for level, l := range m.Levels {
		// L6 has a score but Pebble never picks it: it has nowhere to go.
		if level < len(m.Levels)-1 && l.Score > 0 {
			a.Needed = append(a.Needed, fmt.Sprintf("L%d score %.2f", level, l.Score))
		}
		written += l.TableBytesFlushed + l.TableBytesCompacted
	}
	if m.Compact.MarkedFiles > 0 {
		a.Needed = append(a.Needed, fmt.Sprintf("%d tables marked for compaction", m.Compact.MarkedFiles))
	}
	a.Progress = fmt.Sprint(m.Flush.Count, m.Compact.Count, m.Compact.CancelledCount, m.Compact.FailedCount, written)
	return a
}

// Quiet is short: Running and Needed say all that is pending.
func (e *pebbleEngine) Quiet() time.Duration { return 200 * time.Millisecond }

func (e *pebbleEngine) NewBatch() Batch { return &pebbleBatch{e: e, b: e.db.NewBatch()} }

type pebbleBatch struct {
	e *pebbleEngine
	b *pebble.Batch
}

func (b *pebbleBatch) Put(key, value []byte) { _ = b.b.Set(key, value, nil) }
func (b *pebbleBatch) Delete(key []byte)     { _ = b.b.Delete(key, nil) }

func (b *pebbleBatch) Commit() error {
	err := b.b.Commit(b.e.wo)
	if cerr := b.b.Close(); err == nil {
		err = cerr
	}
	return err
}

func (e *pebbleEngine) NewIter() (Iter, error) {
	it, err := e.db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	return pebbleIter{it}, nil
}

type pebbleIter struct{ *pebble.Iterator }

func (it pebbleIter) Value() []byte {
	v, _ := it.ValueAndErr() // an error also shows in Close
	return v
}

// quietLogger drops informational lines and keeps errors, so that the
// engines' logs do not interleave with the results.
type quietLogger struct{ prefix string }

func (quietLogger) Infof(string, ...any)    {}
func (quietLogger) Debugf(string, ...any)   {}
func (quietLogger) Warningf(string, ...any) {}
func (l quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, l.prefix+format+"\n", args...)
}
func (l quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, l.prefix+format+"\n", args...)
	os.Exit(1)
}
