// Command bench compares dkv with Pebble, goleveldb, Badger and RocksDB on
// db_bench's workloads and YCSB A-F. It is its own Go module, so that the
// engines it compares with never enter dkv's dependency graph.
//
// # How it runs
//
// The parent process (runParent) runs, one at a time, a child process per
// engine and workload group: itself re-executed with the hidden -child flag
// (runChild), or Debian's db_bench for RocksDB (rocksdb.go). A group's
// workloads share one database, in order (workloads.go says which); each
// child measures its own process — /proc/self/io write_bytes, VmHWM reset
// per workload through clear_refs, the database directory's size — and
// prints JSON lines (message) that the parent turns into db_bench-like
// lines, a progress bar, the summary tables, results.json, bench.txt (go
// test -bench format) and two SVG charts. Before each workload that reads,
// a child waits until its engine has no flush or compaction pending
// (settle.go, -settle); readwhilewriting's writer may be paced
// (pacer.go, -writes_per_sec). The standard runs are presets of the flags
// (presets.go, -preset).
//
// # Engines
//
// Engine (engine.go) is the one interface the workloads use; each engine
// has one small adapter file (engine_*.go) that opens it with the aligned
// settings (Config) and reports the options it set. Adapters agree on
// ownership so that none skips a copy another pays for: Get appends the
// value to the caller's buffer; Put, Delete and batches may reuse their
// arguments once they return; iterator keys and values are valid until the
// next move.
//
// # Measuring
//
// Each goroutine of a workload keeps its own histogram (internal/histogram:
// log-linear buckets, 3% precision) and random source seeded from -seed and
// the workload's name, so every engine sees the same keys in the same order.
// YCSB's zipfian distributions come from zipf.go.
package main
