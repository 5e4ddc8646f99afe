package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// options are the command's flags. The parent passes its own arguments on
// to every child, so both see the same options.
type options struct {
	Num              int64         `json:"num"`
	Reads            int64         `json:"reads"`
	ValueSize        int           `json:"value_size"`
	CompressionRatio float64       `json:"compression_ratio"`
	Benchmarks       string        `json:"benchmarks"`
	Engines          string        `json:"engines"`
	Sync             bool          `json:"sync"`
	Threads          int           `json:"threads"`
	Seed             uint64        `json:"seed"`
	CacheSize        int64         `json:"cache_size"`
	BloomBits        int           `json:"bloom_bits"`
	WriteBufferSize  int64         `json:"write_buffer_size"`
	SeekNexts        int           `json:"seek_nexts"`
	BatchSize        int           `json:"batch_size"`
	SyncOps          int64         `json:"sync_ops"`
	YCSBOps          int64         `json:"ycsb_ops"`
	WritesPerSec     int64         `json:"writes_per_sec"`
	Settle           bool          `json:"settle"`
	SettleTimeout    time.Duration `json:"settle_timeout_ns"`
	SettleQuiet      time.Duration `json:"settle_quiet_ns,omitempty"`
	Preset           string        `json:"preset,omitempty"`
	DB               string        `json:"-"`
	Out              string        `json:"-"`
	GoBench          bool          `json:"-"`
	DBBench          string        `json:"-"`
	Keep             bool          `json:"-"`
	Progress         string        `json:"-"`
	CPUProfile       string        `json:"-"`

	child string // hidden: "engine/group" in a child process
}

// hiddenFlags are left out of -h: the parent's protocol with its children.
var hiddenFlags = map[string]bool{"child": true}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Int64Var(&o.Num, "num", 1000000, "number of keys (db_bench --num)")
	fs.Int64Var(&o.Reads, "reads", -1, "read operations of each read workload; -1: num (db_bench --reads)")
	fs.IntVar(&o.ValueSize, "value_size", 100, "value size in bytes (keys are 16 bytes)")
	fs.Float64Var(&o.CompressionRatio, "compression_ratio", 0.5, "values compress to about this fraction of their size")
	fs.StringVar(&o.Benchmarks, "benchmarks", "all", "comma-separated workloads, or all, ycsb (see README.md)")
	fs.StringVar(&o.Engines, "engines", strings.Join(engineOrder, ","), "comma-separated engines")
	fs.BoolVar(&o.Sync, "sync", false, "fsync every write (the synced mode); fillsync always syncs")
	fs.IntVar(&o.Threads, "threads", 1, "reader goroutines of readrandom, readmissing, seekrandom, readwhilewriting and YCSB")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of every random choice (keys, values, operations)")
	fs.Int64Var(&o.CacheSize, "cache_size", 64<<20, "block cache bytes, every engine")
	fs.IntVar(&o.BloomBits, "bloom_bits", 10, "bloom filter bits per key, every engine that has them")
	fs.Int64Var(&o.WriteBufferSize, "write_buffer_size", 64<<20, "memtable bytes, every engine; 0: each engine's default")
	fs.IntVar(&o.SeekNexts, "seek_nexts", 10, "Next calls after each seek of seekrandom")
	fs.IntVar(&o.BatchSize, "batch_size", 1000, "writes per batch of fillbatch")
	fs.Int64Var(&o.SyncOps, "sync_ops", 0, "writes of each fillsync row; 0: num/100, at least 100")
	fs.Int64Var(&o.YCSBOps, "ycsb_ops", 0, "operations of each YCSB workload; 0: num/2")
	fs.Int64Var(&o.WritesPerSec, "writes_per_sec", 0, "rate of readwhilewriting's writer, every engine (RocksDB: --benchmark_write_rate_limit); 0: unlimited")
	fs.BoolVar(&o.Settle, "settle", true, "before each workload that reads, wait until the engine has no flush or compaction running or needed")
	fs.DurationVar(&o.SettleTimeout, "settle_timeout", 10*time.Minute, "longest wait of -settle (not RocksDB's: db_bench's waitforcompaction has none)")
	fs.DurationVar(&o.SettleQuiet, "settle_quiet", 0, "how long an engine's counters must stay still for -settle; 0: each engine's own (200 ms to 1 s)")
	fs.StringVar(&o.Preset, "preset", "", "a standard run: "+presetNames()+"; flags given too override it")
	fs.StringVar(&o.DB, "db", "", "directory for the databases; default: a temporary directory")
	fs.StringVar(&o.Out, "out", "results", "directory for results.json, summary.txt, bench.txt and the SVG charts; empty: none")
	fs.BoolVar(&o.GoBench, "gobench", false, "print the summary in go test -bench format (for benchstat) instead of tables")
	fs.StringVar(&o.DBBench, "db_bench", "db_bench", "RocksDB's db_bench (Debian: apt-get install rocksdb-tools)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the databases after the run")
	fs.StringVar(&o.Progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), on, off")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "directory for a CPU profile of each Go engine's workload (ENGINE-WORKLOAD.pprof); empty: none")
	fs.StringVar(&o.child, "child", "", "internal: run one engine's workload group and print JSON")
	fs.Usage = func() { usage(fs, stderr) }
	return fs
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, `Usage: go run . [flags]

Compares dkv with Pebble, goleveldb, Badger and RocksDB (db_bench) on
db_bench's workloads and YCSB A-F. Each engine runs in its own process.
Results: db_bench-like lines on stderr while running, summary tables on
stdout, and results.json, summary.txt, bench.txt and SVG charts in -out.

Workloads: %s

Presets (-preset; the standard set, make compare):
%s
Flags:
`, strings.Join(workloadNames(), " "), presetUsage())
	shown := flag.NewFlagSet("", flag.ContinueOnError)
	shown.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if !hiddenFlags[f.Name] {
			shown.Var(f.Value, f.Name, f.Usage)
			shown.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	shown.PrintDefaults()
}

// check validates the options and fills in the derived defaults.
func (o *options) check() error {
	if o.Num < 1 {
		return fmt.Errorf("-num %d: need at least one key", o.Num)
	}
	if o.Reads < 0 {
		o.Reads = o.Num
	}
	if o.ValueSize < 1 || o.ValueSize > 1<<20 {
		return fmt.Errorf("-value_size %d is outside [1, 1 MiB]", o.ValueSize)
	}
	if o.CompressionRatio <= 0 || o.CompressionRatio > 1 {
		return fmt.Errorf("-compression_ratio %g is outside (0, 1]", o.CompressionRatio)
	}
	if o.Threads < 1 || o.Threads > 1024 {
		return fmt.Errorf("-threads %d is outside [1, 1024]", o.Threads)
	}
	if o.BatchSize < 1 {
		return fmt.Errorf("-batch_size %d: need at least 1", o.BatchSize)
	}
	if o.SyncOps <= 0 {
		o.SyncOps = max(o.Num/100, 100)
	}
	if o.YCSBOps <= 0 {
		o.YCSBOps = max(o.Num/2, 1)
	}
	if o.WritesPerSec < 0 {
		return fmt.Errorf("-writes_per_sec %d: want 0 (unlimited) or a rate", o.WritesPerSec)
	}
	if o.SettleTimeout <= 0 || o.SettleQuiet < 0 {
		return fmt.Errorf("-settle_timeout %s, -settle_quiet %s: want positive durations", o.SettleTimeout, o.SettleQuiet)
	}
	switch o.Progress {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("-progress %q: want auto, on or off", o.Progress)
	}
	return nil
}

// config is the aligned engine configuration.
func (o *options) config() Config {
	return Config{Sync: o.Sync, CacheSize: o.CacheSize, BloomBits: o.BloomBits, MemTable: o.WriteBufferSize, Settle: o.Settle}
}
