package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/distributedkv/dkv/bench/internal/units"
)

// writeOutputs writes results.json, summary.txt (the tables), bench.txt
// and the charts into -out.
func writeOutputs(o *options, rep *Report, order []string, u *ui) error {
	if o.Out == "" {
		return nil
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"results.json": append(data, '\n'),
		"ops.svg":      []byte(opsChart(rep, order)),
		"latency.svg":  []byte(latencyChart(rep, order)),
	}
	var gb, tables strings.Builder
	writeGoBench(&gb, rep)
	files["bench.txt"] = []byte(gb.String())
	writeTables(&tables, rep, order)
	files["summary.txt"] = []byte(tables.String())
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(o.Out, name), content, 0o644); err != nil {
			return err
		}
	}
	u.linef("bench: wrote %s/{results.json,summary.txt,bench.txt,ops.svg,latency.svg}", o.Out)
	return nil
}

// caveats are printed under the tables and stored in results.json.
func caveats(o *options, rep *Report) []string {
	c := []string{
		"Each engine runs with its default compression (see settings): dkv Snappy on L0-L5 and Zstd on L6; Pebble, goleveldb, Badger and RocksDB Snappy.",
		"Badger keeps values below ValueThreshold (1 MiB by default) in its LSM tree, so with these values its value log is unused; its memtable log is mmapped.",
		"Pebble charges its memtables (the live one and one kept for recycling) to its block cache, so its CacheSize is the aligned cache + 2 × MemTableSize, leaving the aligned size for blocks.",
		"Pebble grows memtables from 256 KiB up to MemTableSize and flushes when the queued ones add up to half of it, so at small key counts its reads search several memtables; its default table format is its oldest (row-oriented).",
		"Write-ahead logs are on everywhere; writes are not synced unless -sync (fillsync always syncs). Unsynced writes survive a process crash, not a power loss.",
		"The engines define their own write amplification differently (dkv and goleveldb divide by user bytes, Pebble by WAL bytes, RocksDB by ingest; RocksDB's leaves out nothing, Pebble's counts the WAL); the kernel's bytes written per user byte is the same measurement for all.",
		"Measurements are taken when a workload returns: flushes and compactions it left pending are charged to the workloads after it (with -settle, only to writing ones), and the on-disk size may still shrink.",
		"Bytes written come from the kernel's write_bytes (pages the process dirtied): a page dirtied twice before writeback counts once.",
		"The data fits in the OS page cache: reads past the block cache come from memory, not the disk.",
		"Latencies include one time.Now pair per operation (tens of ns), as db_bench --histogram; it weighs on readseq and readreverse.",
		"Peak RSS of the Go engines includes the heap the Go runtime keeps; each child runs a GC and returns free memory before each workload.",
		"Pebble (C malloc through cgo, which this build has) and dkv (anonymous mappings, internal/manual) allocate their memtables and block cache outside the Go heap, so they are not doubled by the garbage collector's headroom (GOGC=100); goleveldb and Badger keep theirs on the Go heap.",
	}
	if o.Settle {
		c = append(c, "With -settle, each workload that reads starts once its engine has no flush or compaction running or needed (each adapter's rule is in its settings); the wait and the bytes written meanwhile are in the settle table and results.json, not in the workload's figures.")
	}
	if o.WritesPerSec > 0 {
		c = append(c, fmt.Sprintf("readwhilewriting's writer is paced at %d writes/s on every engine (RocksDB: --benchmark_write_rate_limit, in bytes/s), so the readers compete with the same write load; each row's note has the rate reached.", o.WritesPerSec))
	} else {
		c = append(c, "On 2 cores, readwhilewriting's unthrottled writer, the readers and the engine's background work compete for the CPUs, and a faster-writing engine's readers compete with more writes (each row's note has the writer's rate).")
	}
	if o.Threads > 1 {
		c = append(c, "With -threads > 1, db_bench's threads each do -reads/threads reads, and RocksDB's group is split into invocations where the thread count changes: later ones reopen the database (--use_existing_db --avoid_flush_during_recovery, --seed plus 1000 per reopening).")
	}
	for _, e := range rep.Engines {
		if e.Name != rocksdbName || e.Skipped != "" {
			continue
		}
		c = append(c,
			"RocksDB runs as Debian's db_bench (C++): its own key and value generators and random sequences (same sizes, distributions and compression ratio), and its own timing.",
			"RocksDB's write amplification is computed from db_bench's stats lines ((WAL + compaction output incl. flushes) / ingest), which print GB with two decimals.",
			"db_bench's 16-thread fillsync spins in RocksDB's write thread, which costs much on 2 cores.",
			"db_bench has no YCSB workloads: RocksDB has no YCSB rows. Its fillsync rows are fillrandom --sync with -sync_ops writes.")
		if o.Settle {
			c = append(c, "RocksDB settles with db_bench's waitforcompaction, which pauses 5 s first and polls every 10 s: its settle times are that coarse.")
		}
		if o.WritesPerSec > 0 {
			c = append(c, "db_bench's write rate limit applies to every writing workload of an invocation, so RocksDB's readwhilewriting runs in a db_bench of its own that reopens the database (--use_existing_db, --avoid_flush_during_recovery: the memtable is rebuilt from the log, the block cache starts cold; --seed plus 1000, so that its threads do not replay the first db_bench's key sequences).")
		}
		for _, s := range e.Settings {
			if s.Name == "build" {
				c = append(c, "RocksDB: "+s.Value+"; RocksDB's figures are pessimistic.")
			}
		}
	}
	return c
}

// resultIndex maps workload → engine → result.
func resultIndex(rep *Report) map[string]map[string]*Result {
	idx := map[string]map[string]*Result{}
	for i := range rep.Results {
		r := &rep.Results[i]
		if idx[r.Workload] == nil {
			idx[r.Workload] = map[string]*Result{}
		}
		idx[r.Workload][r.Engine] = r
	}
	return idx
}

// reportedEngines are the engines that have at least one result, in order.
func reportedEngines(rep *Report) []string {
	has := map[string]bool{}
	for _, r := range rep.Results {
		has[r.Engine] = true
	}
	var out []string
	for _, e := range engineOrder {
		if has[e] {
			out = append(out, e)
		}
	}
	return out
}

// writeTables prints the settings and the summary tables.
func writeTables(w io.Writer, rep *Report, order []string) {
	engs := reportedEngines(rep)
	idx := resultIndex(rep)
	fmt.Fprintf(w, "dkv bench: %s%d keys, %d B keys, %d B values, sync=%v, threads=%d, settle=%v, readwhilewriting's writer %s; %s, %d CPUs, %s; %.0f s\n\n",
		presetLabel(&rep.Options), rep.Options.Num, KeySize, rep.Options.ValueSize, rep.Options.Sync, rep.Options.Threads,
		rep.Options.Settle, writerRate(&rep.Options), rep.Host.CPU, rep.Host.NumCPU, rep.Host.GoVersion, rep.Seconds)
	fmt.Fprintln(w, "Settings (aligned: WAL on, sync as above, block cache, bloom filter bits/key, memtable size; compression: each engine's default)")
	for _, e := range rep.Engines {
		if e.Skipped != "" {
			fmt.Fprintf(w, "  %-10s skipped: %s\n", e.Name, e.Skipped)
			continue
		}
		var parts []string
		for _, s := range e.Settings {
			parts = append(parts, s.Name+": "+s.Value)
		}
		fmt.Fprintf(w, "  %-10s %s\n  %-10s %s\n", e.Name, e.Version, "", strings.Join(parts, "; "))
	}
	fmt.Fprintln(w)

	hasDKVPebble := contains(engs, "dkv") && contains(engs, "pebble")
	table(w, "Throughput, ops/s (higher is better)", engs, order, idx, hasDKVPebble, func(r *Result) string { return units.Rate(r.OpsPerSec) })
	table(w, "Latency p50 / p99 / p99.9, µs (fillbatch: per batch of 1000)", engs, order, idx, false, func(r *Result) string {
		return fmtMicros(r.P50) + " / " + fmtMicros(r.P99) + " / " + fmtMicros(r.P999)
	})
	table(w, "On disk after the workload (per file: min(allocated, length))", engs, order, idx, false, func(r *Result) string { return fmtBytes(r.DiskSize) })
	table(w, "Bytes written to disk per user byte (/proc/PID/io write_bytes; writing workloads)", engs, order, idx, false, func(r *Result) string {
		if r.UserBytes == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", r.WriteBytesPerUserByte)
	})
	table(w, "Write amplification the engine reports (since its database was opened)", engs, order, idx, false, func(r *Result) string {
		if r.EngineWriteAmp == nil {
			return "-"
		}
		return fmt.Sprintf("%.2f", *r.EngineWriteAmp)
	})
	table(w, "Peak RSS of the engine's process during the workload", engs, order, idx, false, func(r *Result) string { return fmtBytes(r.PeakRSS) })
	if hasSettle(rep) {
		table(w, "Wait for background work before the workload (-settle): seconds / bytes written meanwhile; (!): it ended before the engine was idle, results.json says why", engs, order, idx, false, func(r *Result) string {
			if r.Settle == nil {
				return "-"
			}
			cell := fmt.Sprintf("%.2f s / %s", r.Settle.Seconds, fmtBytes(r.Settle.WriteBytes))
			if r.Settle.Outcome != "idle" && !strings.HasPrefix(r.Settle.Outcome, "waitforcompaction") {
				cell += " (!)"
			}
			return cell
		})
	}
	fmt.Fprintln(w, "Caveats:")
	for _, c := range rep.Caveats {
		fmt.Fprintf(w, "  - %s\n", c)
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "FAILED: %s\n", f)
	}
}

// table prints one metric per workload and engine; withRatio adds the
// dkv/Pebble ratio of ops/s, the ratio of dkv's ops/s to the best other
// engine's in the same run (and which that is), and their geometric means.
func table(w io.Writer, title string, engs, order []string, idx map[string]map[string]*Result, withRatio bool, cell func(*Result) string) {
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "workload\t" + strings.Join(engs, "\t") + "\t"
	if withRatio {
		head += "dkv/pebble\tdkv/best\tbest\t"
	}
	fmt.Fprintln(tw, head)
	var pebbleMean, bestMean geoMean
	for _, wl := range order {
		row := wl + "\t"
		for _, e := range engs {
			if r := idx[wl][e]; r != nil {
				row += cell(r) + "\t"
			} else {
				row += "-\t"
			}
		}
		if withRatio {
			d := idx[wl]["dkv"]
			row += pebbleMean.cell(d, idx[wl]["pebble"])
			best, name := bestOther(idx[wl])
			row += bestMean.cell(d, best)
			if best != nil {
				row += name + "\t"
			} else {
				row += "-\t"
			}
		}
		fmt.Fprintln(tw, row)
	}
	if withRatio && pebbleMean.n > 0 {
		fmt.Fprintln(tw, "geometric mean"+strings.Repeat("\t", len(engs)+1)+pebbleMean.String()+"\t"+bestMean.String()+"\t\t")
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// hasSettle reports whether any result waited for background work.
func hasSettle(rep *Report) bool {
	for _, r := range rep.Results {
		if r.Settle != nil {
			return true
		}
	}
	return false
}

// bestOther returns the result with the most ops/s among the engines other
// than dkv, and its engine.
func bestOther(results map[string]*Result) (*Result, string) {
	var best *Result
	var name string
	for _, e := range engineOrder {
		if r := results[e]; e != "dkv" && r != nil && r.OpsPerSec > 0 && (best == nil || r.OpsPerSec > best.OpsPerSec) {
			best, name = r, e
		}
	}
	return best, name
}

// geoMean accumulates the geometric mean of dkv's ratios to another result.
type geoMean struct {
	logSum float64
	n      int
}

// cell returns the table cell of d's ops/s over o's, and counts it.
func (g *geoMean) cell(d, o *Result) string {
	if d == nil || o == nil || d.OpsPerSec <= 0 || o.OpsPerSec <= 0 {
		return "-\t"
	}
	ratio := d.OpsPerSec / o.OpsPerSec
	g.logSum += math.Log(ratio)
	g.n++
	return fmt.Sprintf("%.2f\t", ratio)
}

func (g *geoMean) String() string {
	if g.n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", math.Exp(g.logSum/float64(g.n)))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeGoBench prints the results in go test -bench format, one line per
// engine × workload, for benchstat: `benchstat -col /engine bench.txt`, or
// two runs' files side by side.
func writeGoBench(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: github.com/distributedkv/dkv/bench\ncpu: %s\n", rep.Host.OS, rep.Host.Arch, rep.Host.CPU)
	for _, r := range rep.Results {
		fmt.Fprintf(w, "Benchmark%s/engine=%s\t%d\t%.1f ns/op\t%.0f ops/s\t%.0f p50-ns\t%.0f p99-ns\t%.0f p99.9-ns",
			benchName(r.Workload), r.Engine, r.Ops, r.MicrosPerOp*1e3, r.OpsPerSec, r.P50*1e3, r.P99*1e3, r.P999*1e3)
		if r.UserBytes > 0 {
			fmt.Fprintf(w, "\t%.3f write-B/user-B", r.WriteBytesPerUserByte)
		}
		if r.EngineWriteAmp != nil {
			fmt.Fprintf(w, "\t%.3f engine-w-amp", *r.EngineWriteAmp)
		}
		if r.Settle != nil {
			fmt.Fprintf(w, "\t%.3f settle-s", r.Settle.Seconds)
		}
		fmt.Fprintf(w, "\t%d disk-B\t%d peak-rss-B\n", r.DiskSize, r.PeakRSS)
	}
}

// benchName turns a workload name into a benchmark name: fillseq →
// Fillseq, fillsync/16 → Fillsync/threads=16, ycsb-a → YCSB/workload=a.
func benchName(w string) string {
	if rest, ok := strings.CutPrefix(w, "ycsb-"); ok {
		return "YCSB/workload=" + rest
	}
	name, threads, ok := strings.Cut(w, "/")
	r := []rune(name)
	r[0] = unicode.ToUpper(r[0])
	if ok {
		return string(r) + "/threads=" + threads
	}
	return string(r)
}
