package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Engine is what every workload runs against: one open database of one
// engine. An adapter (engine_*.go) maps it onto the engine's own API.
//
// Ownership is aligned across engines so that none pays for a copy another
// skips: Get appends the value to dst and returns it (the caller owns it);
// Put, Delete and Batch.Put may reuse their arguments as soon as they
// return. An Engine is safe for concurrent use by several goroutines; a
// Batch and an Iter are not.
type Engine interface {
	// Put writes key=value, synced if the engine was opened with
	// Config.Sync.
	Put(key, value []byte) error
	// Get appends the value of key to dst[:0]; found is false when the key
	// is absent (which is not an error).
	Get(key, dst []byte) (value []byte, found bool, err error)
	// Delete removes key, synced if Config.Sync.
	Delete(key []byte) error
	// NewBatch returns an empty batch; Commit applies it atomically.
	NewBatch() Batch
	// NewIter returns an iterator over a point-in-time view of the whole
	// database.
	NewIter() (Iter, error)
	// WriteAmp is the engine's own write amplification since Open, as it
	// reports it; ok is false when it reports none.
	WriteAmp() (amp float64, ok bool)
	// Activity reports the engine's background work now, as far as the
	// engine tells (settle.go waits on it).
	Activity() Activity
	// Quiet is how long Activity's Progress must stay the same before the
	// settle wait believes the engine idle: short where Running and Needed
	// are exact, longer where the counters are all the engine tells.
	Quiet() time.Duration
	// Close closes the database.
	Close() error
}

// Batch is an atomic group of writes.
type Batch interface {
	Put(key, value []byte)
	Delete(key []byte)
	// Commit applies the batch atomically (synced if Config.Sync) and
	// releases it: the batch is not used afterwards.
	Commit() error
}

// Iter walks the keys in order. Key and Value return slices that are valid
// until the next positioning call.
type Iter interface {
	First() bool
	Last() bool
	SeekGE(key []byte) bool
	Next() bool
	Prev() bool
	Key() []byte
	Value() []byte
	Close() error
}

// Config holds the settings that are aligned across engines.
type Config struct {
	Sync      bool  // fsync every write (write-ahead log always on)
	CacheSize int64 // block cache bytes
	BloomBits int   // bloom filter bits per key
	MemTable  int64 // memtable (write buffer) bytes; 0: the engine's default
	// Settle: the runner waits for background work before each workload
	// that reads; the adapter lists how it tells, with its settings.
	Settle bool
}

// Setting is one option an adapter set or relies on, printed with the
// results so that a reader can check the comparison.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// opener opens an engine in dir and reports the settings it used.
type opener func(dir string, cfg Config) (Engine, []Setting, error)

// engines are the Go engines, by name. RocksDB is not among them: it runs as
// Debian's db_bench (rocksdb.go).
var engines = map[string]opener{
	"dkv":       openDKV,
	"pebble":    openPebble,
	"goleveldb": openLevelDB,
	"badger":    openBadger,
}

// rocksdbName is the engine name of the db_bench row.
const rocksdbName = "rocksdb"

// engineOrder is the order of engines in flags' defaults, tables and charts.
var engineOrder = []string{"dkv", "pebble", "goleveldb", "badger", rocksdbName}

// parseEngines checks a comma-separated engine list and returns it in
// engineOrder.
func parseEngines(s string) ([]string, error) {
	want := map[string]bool{}
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if e == "all" {
			for _, n := range engineOrder {
				want[n] = true
			}
			continue
		}
		if _, ok := engines[e]; !ok && e != rocksdbName {
			known := append([]string(nil), engineOrder...)
			sort.Strings(known)
			return nil, fmt.Errorf("unknown engine %q (known: %s)", e, strings.Join(known, ", "))
		}
		want[e] = true
	}
	var out []string
	for _, n := range engineOrder {
		if want[n] {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no engine selected")
	}
	return out, nil
}

// mib formats a byte count of whole MiB as "64 MiB".
func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}
