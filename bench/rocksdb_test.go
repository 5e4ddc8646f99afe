package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// dbBenchSample is db_bench 7.8.3's output for
// --benchmarks=fillrandom,stats,readrandom,stats (trimmed histograms).
const dbBenchSample = `RocksDB:    version 7.8.3
Keys:       16 bytes each (+ 0 bytes user-defined timestamp)
Compression: Snappy
WARNING: Assertions are enabled; benchmarks unnecessarily slow
------------------------------------------------
DB path: [/tmp/rtest/db]
fillrandom   :       4.367 micros/op 228940 ops/sec 0.087 seconds 20000 operations;   25.3 MB/s
Microseconds per write:
Count: 20000 Average: 4.4025  StdDev: 87.76
Min: 2  Median: 2.6440  Max: 9461
Percentiles: P50: 2.64 P75: 3.07 P99: 6.13 P99.9: 33.67 P99.99: 2900.00
------------------------------------------------------
(       1,       2 ]     1469   7.345%   7.345% #

** Compaction Stats [default] **
Cumulative compaction: 0.25 GB write, 0.00 MB/s write, 0.00 GB read, 0.00 MB/s read, 0.0 seconds
** DB Stats **
Cumulative writes: 20K writes, 20K keys, 20K commit groups, 1.0 writes per commit group, ingest: 0.12 GB, 133.34 MB/s
Cumulative WAL: 20K writes, 0 syncs, 20000.00 writes per sync, written: 0.12 GB, 133.34 MB/s
Interval writes: 20K writes, 20K keys, 20K commit groups, 1.0 writes per commit group, ingest: 2.27 MB, 133.34 MB/s
DB path: [/tmp/rtest/db]
readrandom   :       1.384 micros/op 722099 ops/sec 0.028 seconds 20000 operations;   50.6 MB/s (12667 of 20000 found)

Microseconds per read:
Count: 20000 Average: 1.3866  StdDev: 26.49
Min: 0  Median: 0.6207  Max: 3736
Percentiles: P50: 0.62 P75: 0.93 P99: 2.40 P99.9: 25.79 P99.99: 170.00
`

func TestDBBenchParser(t *testing.T) {
	o := &options{Num: 20000, ValueSize: 100}
	seg := dbBenchSegment{group: "random", threads: 1, steps: []step{
		{w: workloadByName("fillrandom"), report: false},
		{w: workloadByName("readrandom"), report: true},
	}}
	p := &dbBenchParser{o: o, seg: seg, pid: "0", dir: t.TempDir()} // pid 0: no /proc entry, measurements stay zero
	for _, line := range strings.Split(dbBenchSample, "\n") {
		p.line(line)
	}
	if p.version != "7.8.3" || p.compression != "snappy" || !p.assertions {
		t.Errorf("header: version %q, compression %q, assertions %v", p.version, p.compression, p.assertions)
	}
	if len(p.results) != 2 {
		t.Fatalf("%d results, want 2", len(p.results))
	}
	fill := p.results[0]
	if fill.Workload != "fillrandom" || fill.Ops != 20000 || fill.OpsPerSec != 228940 || fill.MicrosPerOp != 4.367 || fill.Seconds != 0.087 {
		t.Errorf("fillrandom: %+v", fill)
	}
	if fill.P50 != 2.64 || fill.P99 != 6.13 || fill.P999 != 33.67 || fill.MeanMicros != 4.4025 || fill.MaxMicros != 9461 {
		t.Errorf("fillrandom latencies: %+v", fill)
	}
	if fill.UserBytes != 20000*116 {
		t.Errorf("fillrandom user bytes %d", fill.UserBytes)
	}
	// (0.12 WAL + 0.25 compaction) / 0.12 ingested.
	if fill.EngineWriteAmp == nil || *fill.EngineWriteAmp < 3.08 || *fill.EngineWriteAmp > 3.09 {
		t.Errorf("fillrandom write amp %v", fill.EngineWriteAmp)
	}
	reported := p.reported()
	if len(reported) != 1 || reported[0].Workload != "readrandom" {
		t.Fatalf("reported %v", reported)
	}
	rr := reported[0]
	if rr.Found != 12667 || rr.P99 != 2.40 || rr.UserBytes != 0 || rr.EngineWriteAmp != nil {
		t.Errorf("readrandom: %+v", rr)
	}
}

// With -threads 2, the random group splits where the thread count changes;
// only the first invocation starts a new database.
func TestDBBenchSegments(t *testing.T) {
	o := &options{Num: 1000, Reads: 1000, Threads: 2, SyncOps: 100}
	sel, err := selectWorkloads("fillrandom,overwrite,readrandom,readmissing,readseq,deleterandom,fillsync")
	if err != nil {
		t.Fatal(err)
	}
	_, plans := groupPlans(sel)
	var got []string
	for _, g := range []string{"random", "fillsync"} {
		for _, seg := range dbBenchSegments(o, g, plans[g]) {
			var names []string
			for _, st := range seg.steps {
				names = append(names, st.w.name)
			}
			got = append(got, strings.Join(names, "+")+map[bool]string{true: " existing", false: " fresh"}[seg.existing])
			args := strings.Join(dbBenchArgs(o, "/db", seg), " ")
			if seg.threads == 2 && !strings.Contains(args, "--threads=2 ") || !strings.Contains(args, "--reads="+map[int]string{1: "1000", 2: "500"}[seg.threads]) {
				t.Errorf("%s: %s", names, args)
			}
			if seg.synced && !strings.Contains(args, "--sync=true") {
				t.Errorf("%s not synced: %s", names, args)
			}
		}
	}
	want := []string{
		"fillrandom+overwrite fresh", "readrandom+readmissing existing", "readseq+deleterandom existing",
		"fillsync/1 fresh", "fillsync/16 fresh",
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("segments %v, want %v", got, want)
	}
}

// With -writes_per_sec, readwhilewriting gets a db_bench of its own (the
// rate limit applies to every write of an invocation), which reopens the
// database without flushing the memtable it recovers; with -settle, a
// waitforcompaction precedes each workload that reads.
func TestDBBenchSegmentsRateAndSettle(t *testing.T) {
	o := &options{Num: 1000, Reads: 1000, Threads: 1, ValueSize: 100, WritesPerSec: 20000, Settle: true, Seed: 1}
	sel, err := selectWorkloads("fillrandom,overwrite,readrandom,readwhilewriting,deleterandom")
	if err != nil {
		t.Fatal(err)
	}
	_, plans := groupPlans(sel)
	var got []string
	for _, seg := range dbBenchSegments(o, "random", plans["random"]) {
		var keep []string
		for _, a := range dbBenchArgs(o, "/db", seg) {
			for _, prefix := range []string{"--benchmarks=", "--use_existing_db=", "--seed=", "--avoid_flush_during_recovery=", "--benchmark_write_rate_limit="} {
				if strings.HasPrefix(a, prefix) {
					keep = append(keep, a)
				}
			}
		}
		got = append(got, strings.Join(keep, " "))
	}
	// Each reopening db_bench has its own seeds: with the first one's, its
	// readers would read the keys the fill wrote, in the same order.
	want := []string{
		"--benchmarks=fillrandom,stats,overwrite,stats,waitforcompaction,readrandom,stats --use_existing_db=false --seed=1",
		"--benchmarks=waitforcompaction,readwhilewriting,stats --use_existing_db=true --seed=1001 --avoid_flush_during_recovery=true --benchmark_write_rate_limit=2320000",
		"--benchmarks=deleterandom,stats --use_existing_db=true --seed=2001 --avoid_flush_during_recovery=true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("invocations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The parser times a waitforcompaction from the result line before it to
// its last "finished" line, and gives the wait to the next result.
func TestDBBenchParserSettle(t *testing.T) {
	o := &options{Num: 20000, ValueSize: 100, Settle: true, WritesPerSec: 20000}
	seg := dbBenchSegment{group: "random", threads: 1, steps: []step{
		{w: workloadByName("fillrandom"), report: true},
		{w: workloadByName("readwhilewriting"), report: true},
	}}
	start := time.Unix(1000, 0)
	var clock time.Duration
	p := &dbBenchParser{o: o, seg: seg, pid: "0", dir: t.TempDir(), lastResult: start, now: func() time.Time { return start.Add(clock) }}
	for _, l := range []struct {
		at   time.Duration
		line string
	}{
		{time.Second, "fillrandom   :       4.367 micros/op 228940 ops/sec 0.087 seconds 20000 operations;   25.3 MB/s"},
		{6 * time.Second, "waitforcompaction(/db): started"},
		{6 * time.Second, "waitforcompaction(/db): active(rocksdb.compaction-pending). Sleep 10 seconds"},
		{16 * time.Second, "waitforcompaction(/db): finished"},
		{16 * time.Second, "waitforcompaction(/db): started"},
		{16500 * time.Millisecond, "waitforcompaction(/db): finished"},
		{18 * time.Second, "readwhilewriting :       2.000 micros/op 500000 ops/sec 2.000 seconds 1000000 operations;   25.3 MB/s (860000 of 1000000 found)"},
		{18 * time.Second, "Interval writes: 40K writes, 40K keys, 40K commit groups, 1.0 writes per commit group, ingest: 4.42 MB, 2.21 MB/s"},
	} {
		clock = l.at
		p.line(l.line)
	}
	rs := p.reported()
	if len(rs) != 2 {
		t.Fatalf("%d results", len(rs))
	}
	if rs[0].Settle != nil {
		t.Errorf("fillrandom: settle %+v", rs[0].Settle)
	}
	s := rs[1].Settle
	if s == nil || s.Seconds != 15.5 || !strings.Contains(s.Outcome, "rocksdb.compaction-pending") {
		t.Errorf("readwhilewriting: settle %+v, want 15.5 s after waiting on rocksdb.compaction-pending", s)
	}
	if note := rs[1].Note; !strings.Contains(note, "about 40000 writes (20000/s)") || !strings.Contains(note, "limited to 2320000 B/s") {
		t.Errorf("readwhilewriting note %q", note)
	}
}

// When db_bench is installed, the RocksDB row runs at a tiny size.
func TestRocksDBRow(t *testing.T) {
	if _, err := exec.LookPath("db_bench"); err != nil {
		t.Skip("db_bench not installed (" + rocksdbInstall + ")")
	}
	var stdout, stderr strings.Builder
	// One workload that reads, so one waitforcompaction (5 s at least),
	// with the writer paced: readwhilewriting runs in a db_bench of its own.
	args := []string{"-num", "2000", "-engines", "rocksdb", "-benchmarks", "fillseq,fillrandom,overwrite,readwhilewriting,fillsync/1", "-writes_per_sec", "20000",
		"-out", "", "-db", t.TempDir(), "-progress", "off"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr.String())
	}
	lines := map[string]string{}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == "rocksdb" && strings.Contains(line, " micros/op ") {
			lines[strings.TrimSuffix(f[1], ":")] = line
		}
	}
	for _, w := range []string{"fillseq", "fillrandom", "readwhilewriting", "fillsync/1"} {
		if lines[w] == "" {
			t.Errorf("no rocksdb %s line in:\n%s", w, stderr.String())
		}
	}
	// fillrandom and overwrite leave about 86% of the keys; a reopened
	// db_bench with the first one's seeds would read overwrite's keys
	// (its reader thread's seed is overwrite's) and find them all.
	if line := lines["readwhilewriting"]; !strings.Contains(line, "reopened") || strings.Contains(line, " 2000 found") {
		t.Errorf("readwhilewriting: %s", line)
	}
	if !strings.Contains(stderr.String(), "rocksdb   settled before readwhilewriting in ") {
		t.Errorf("no settle line for rocksdb in:\n%s", stderr.String())
	}
}
