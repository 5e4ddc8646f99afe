package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RocksDB is compared through db_bench, from Debian's rocksdb-tools: the
// same workloads under the same names and flags, in its own process like
// every engine. The parent reads its output line by line and takes the
// process measurements (/proc/PID/io, VmHWM, the directory's size) when each
// result line appears, so they are per workload as for the Go engines.

const rocksdbInstall = "apt-get install rocksdb-tools (Debian/Ubuntu: installs /usr/bin/db_bench)"

// dbBenchSegment is one db_bench invocation: consecutive workloads of a
// group with the same thread count, sync mode and write rate limit. A
// group is one invocation unless -threads > 1 changes the count inside it,
// or -writes_per_sec limits readwhilewriting's writer: db_bench's
// --benchmark_write_rate_limit applies to every writing workload of an
// invocation, so readwhilewriting gets one of its own. Later invocations
// reopen the database (--use_existing_db) without flushing the memtable
// they recover from the log (--avoid_flush_during_recovery), so that it
// holds what the Go engines' memtables hold at that point, and with
// another --seed: db_bench seeds its threads with --seed plus a count of
// the threads it started before, so a new db_bench with the same seed
// would read exactly the keys the first one's fill wrote, in the same
// order (all of them found).
type dbBenchSegment struct {
	group     string
	steps     []step
	threads   int
	synced    bool
	existing  bool
	reopens   int   // invocations on the same database before this one
	writeRate int64 // --benchmark_write_rate_limit, bytes/s; 0: none
}

// dbBenchSeedStride separates the seeds of invocations on one database:
// more threads than this in one invocation would reuse a seed.
const dbBenchSeedStride = 1000

// dbBenchWriteRate is the --benchmark_write_rate_limit of w: db_bench
// limits bytes of keys and values per second.
func dbBenchWriteRate(o *options, w *workload) int64 {
	if w.name != "readwhilewriting" || o.WritesPerSec <= 0 {
		return 0
	}
	return o.WritesPerSec * int64(KeySize+o.ValueSize)
}

func dbBenchSegments(o *options, group string, plan []step) []dbBenchSegment {
	var segs []dbBenchSegment
	for _, st := range plan {
		threads, rate := st.w.threadsFor(o), dbBenchWriteRate(o, st.w)
		n := len(segs)
		if n == 0 || st.w.fresh || segs[n-1].threads != threads || segs[n-1].synced != st.w.syncAll || segs[n-1].writeRate != rate {
			seg := dbBenchSegment{group: group, threads: threads, synced: st.w.syncAll, existing: !st.w.fresh, writeRate: rate}
			if seg.existing && n > 0 {
				seg.reopens = segs[n-1].reopens + 1
			}
			segs = append(segs, seg)
			n++
		}
		segs[n-1].steps = append(segs[n-1].steps, st)
	}
	return segs
}

// dbBenchArgs are the flags of one invocation: the aligned settings, a
// "stats" after each workload (for RocksDB's own write amplification) and,
// with -settle, a "waitforcompaction" before each workload that reads.
func dbBenchArgs(o *options, dir string, seg dbBenchSegment) []string {
	var names []string
	for _, st := range seg.steps {
		if o.Settle && st.w.reads {
			names = append(names, "waitforcompaction")
		}
		names = append(names, st.w.dbBench, "stats")
	}
	args := []string{
		"--db=" + dir,
		"--benchmarks=" + strings.Join(names, ","),
		"--use_existing_db=" + strconv.FormatBool(seg.existing),
		"--num=" + strconv.FormatInt(o.Num, 10),
		"--reads=" + strconv.FormatInt(max(o.Reads/int64(seg.threads), 1), 10), // per thread in db_bench
		"--threads=" + strconv.Itoa(seg.threads),
		"--key_size=16",
		"--value_size=" + strconv.Itoa(o.ValueSize),
		"--compression_ratio=" + strconv.FormatFloat(o.CompressionRatio, 'g', -1, 64),
		"--cache_size=" + strconv.FormatInt(o.CacheSize, 10),
		"--bloom_bits=" + strconv.Itoa(o.BloomBits),
		"--seek_nexts=" + strconv.Itoa(o.SeekNexts),
		"--seed=" + strconv.FormatUint(o.Seed+uint64(seg.reopens*dbBenchSeedStride), 10),
		"--sync=" + strconv.FormatBool(o.Sync || seg.synced),
		"--disable_wal=false",
		"--histogram=true",
		"--progress_reports=false",
	}
	if o.WriteBufferSize > 0 {
		args = append(args, "--write_buffer_size="+strconv.FormatInt(o.WriteBufferSize, 10))
	}
	if seg.synced { // fillsync rows: -sync_ops writes in all, shared by the threads
		args = append(args, "--writes="+strconv.FormatInt(max(o.SyncOps/int64(seg.threads), 1), 10))
	}
	if seg.existing {
		args = append(args, "--avoid_flush_during_recovery=true")
	}
	if seg.writeRate > 0 {
		args = append(args, "--benchmark_write_rate_limit="+strconv.FormatInt(seg.writeRate, 10))
	}
	return args
}

// runRocksDBAll runs every group db_bench has workloads for.
func runRocksDBAll(o *options, root string, groups []string, plans map[string][]step, u *ui, rep *Report, info *EngineInfo) {
	bin, err := exec.LookPath(o.DBBench)
	if err != nil {
		info.Skipped = "db_bench not found; install it with: " + rocksdbInstall
		u.linef("rocksdb: skipped: %s", info.Skipped)
		return
	}
	dir := filepath.Join(root, "rocksdb")
	defer os.RemoveAll(dir) //nolint:errcheck // best effort
	for _, g := range groups {
		var plan []step
		for _, st := range plans[g] {
			if st.w.dbBench != "" {
				plan = append(plan, st)
			}
		}
		if len(plan) == 0 {
			u.linef("rocksdb: no %s workloads in db_bench; skipped", g)
			continue
		}
		for _, seg := range dbBenchSegments(o, g, plan) {
			results, meta, err := runDBBench(o, bin, dir, seg, u)
			for _, r := range results {
				rep.Results = append(rep.Results, *r)
			}
			if info.Version == "" || (!seg.synced && !info.hasUnsyncedSettings()) {
				info.Version = meta.version + " (" + bin + ")"
				info.Settings = meta.settings(o, seg)
			}
			if err != nil {
				rep.Failures = append(rep.Failures, fmt.Sprintf("rocksdb %s: %v", g, err))
				u.linef("rocksdb %s: FAILED: %v", g, err)
				break
			}
		}
	}
}

// hasUnsyncedSettings reports whether the settings come from a database in
// the run's own sync mode, not fillsync's.
func (e *EngineInfo) hasUnsyncedSettings() bool {
	for _, s := range e.Settings {
		if s.Name == "sync" {
			return !strings.Contains(s.Value, "fillsync")
		}
	}
	return false
}

// runDBBench runs one invocation and returns its reported results.
func runDBBench(o *options, bin, dir string, seg dbBenchSegment, u *ui) ([]*Result, *dbBenchParser, error) {
	args := dbBenchArgs(o, dir, seg)
	name, cmdArgs := bin, args
	if stdbuf, err := exec.LookPath("stdbuf"); err == nil {
		// Line-buffered, so that each result line arrives, and is
		// measured, when db_bench prints it.
		name, cmdArgs = stdbuf, append([]string{"-oL", "-eL", bin}, args...)
	}
	cmd := exec.Command(name, cmdArgs...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		return nil, nil, err
	}
	pw.Close()
	defer pr.Close()
	p := &dbBenchParser{o: o, seg: seg, pid: strconv.Itoa(cmd.Process.Pid), dir: dir, ui: u, lastResult: time.Now()}
	stop := p.showProgress(u)
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.line(sc.Text())
	}
	stop()
	p.flush(len(p.results))
	err = cmd.Wait()
	if err == nil && p.idx < len(seg.steps) {
		err = fmt.Errorf("db_bench printed %d of %d results", p.idx, len(seg.steps))
	}
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), err, strings.Join(p.tail, "\n"))
	}
	return p.reported(), p, err
}

var (
	reDBBenchResult = regexp.MustCompile(`^(\w+)\s*:\s*([\d.]+) micros/op (\d+) ops/sec(?: ([\d.]+) seconds)?(?: (\d+) operations;)?(.*)$`)
	reDBBenchFound  = regexp.MustCompile(`\((\d+) of (\d+) found\)`)
	reDBBenchCount  = regexp.MustCompile(`^Count: (\d+) Average: ([\d.]+)`)
	reDBBenchMax    = regexp.MustCompile(`^Min: [\d.]+\s+Median: [\d.]+\s+Max: ([\d.]+)`)
	reDBBenchPct    = regexp.MustCompile(`^Percentiles: P50: ([\d.]+) P75: [\d.]+ P99: ([\d.]+) P99\.9: ([\d.]+)`)
	reDBBenchIngest = regexp.MustCompile(`^(Cumulative|Interval) writes: .*ingest: ([\d.]+) (GB|MB|KB)`)
	reDBBenchWAL    = regexp.MustCompile(`^Cumulative WAL: .*written: ([\d.]+) (GB|MB|KB)`)
	reDBBenchComp   = regexp.MustCompile(`^Cumulative compaction: ([\d.]+) GB write`)
	reDBBenchVer    = regexp.MustCompile(`^RocksDB:\s+version (\S+)`)
	reDBBenchComprs = regexp.MustCompile(`^Compression: (\S+)`)
	reDBBenchWait   = regexp.MustCompile(`^waitforcompaction\(.*\): (started|finished|active\((\S+)\))`)
	reDBBenchWrites = regexp.MustCompile(`^Interval writes: (\d+)([KMG]?) writes`)
)

// dbBenchParser turns db_bench's output into Results.
type dbBenchParser struct {
	o       *options
	seg     dbBenchSegment
	pid     string
	dir     string
	results []*Result // one per step so far
	idx     int       // steps with a result line so far
	prevIO  ioCounters
	cum     struct{ ingest, wal, comp float64 } // GB, from the last stats

	// A waitforcompaction before the next result (-settle): from the
	// previous result line (or the start) to its last "finished" line.
	now        func() time.Time // time.Now, or a test's clock
	lastResult time.Time        // when the previous result line (or the start) came
	wait       struct {
		on         bool
		start, end time.Time
		writeBytes int64
		active     []string // the properties it waited on
	}

	ui          *ui
	printed     int        // results shown on the ui so far
	mu          sync.Mutex // guards idx for showProgress
	version     string
	compression string
	assertions  bool
	tail        []string
}

// line consumes one output line.
func (p *dbBenchParser) line(s string) {
	p.tail = append(p.tail, s)
	if len(p.tail) > 30 {
		p.tail = p.tail[1:]
	}
	s = strings.TrimSpace(s)
	var last *Result
	if len(p.results) > 0 {
		last = p.results[len(p.results)-1]
	}
	if m := reDBBenchResult.FindStringSubmatch(s); m != nil && p.idx < len(p.seg.steps) {
		p.result(m)
		return
	}
	if m := reDBBenchWait.FindStringSubmatch(s); m != nil {
		p.waitLine(m[1], m[2])
		return
	}
	if m := reDBBenchVer.FindStringSubmatch(s); m != nil {
		p.version = m[1]
	} else if m := reDBBenchComprs.FindStringSubmatch(s); m != nil {
		p.compression = strings.ToLower(m[1])
	} else if strings.HasPrefix(s, "WARNING: Assertions are enabled") {
		p.assertions = true
	}
	if last == nil {
		return
	}
	if m := reDBBenchCount.FindStringSubmatch(s); m != nil {
		last.MeanMicros, _ = strconv.ParseFloat(m[2], 64)
	} else if m := reDBBenchMax.FindStringSubmatch(s); m != nil {
		last.MaxMicros, _ = strconv.ParseFloat(m[1], 64)
	} else if m := reDBBenchPct.FindStringSubmatch(s); m != nil {
		last.P50, _ = strconv.ParseFloat(m[1], 64)
		last.P99, _ = strconv.ParseFloat(m[2], 64)
		last.P999, _ = strconv.ParseFloat(m[3], 64)
	} else if m := reDBBenchComp.FindStringSubmatch(s); m != nil {
		p.cum.comp, _ = strconv.ParseFloat(m[1], 64)
	} else if m := reDBBenchIngest.FindStringSubmatch(s); m != nil {
		v := gigabytes(m[2], m[3])
		if m[1] == "Cumulative" {
			p.cum.ingest = v
		} else if last.UserBytes == 0 && last.Workload == "readwhilewriting" {
			// db_bench does not count the writer's operations; the
			// interval since the previous stats is this workload.
			last.UserBytes = int64(v * (1 << 30))
			if w := reDBBenchWrites.FindStringSubmatch(s); w != nil && last.Seconds > 0 {
				n, _ := strconv.ParseInt(w[1], 10, 64)
				n *= map[string]int64{"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[w[2]]
				if last.Note != "" {
					last.Note += "; "
				}
				last.Note += fmt.Sprintf("writer: about %d writes (%.0f/s), from db_bench's interval stats", n, float64(n)/last.Seconds)
				if rate := dbBenchWriteRate(p.o, workloadByName(last.Workload)); rate > 0 {
					last.Note += fmt.Sprintf(", limited to %d B/s", rate)
				}
			}
		}
	} else if m := reDBBenchWAL.FindStringSubmatch(s); m != nil {
		p.cum.wal = gigabytes(m[1], m[2])
		// The last of the three cumulative lines: (WAL + flush and
		// compaction output) / ingested bytes, at db_bench's precision
		// of 0.01 GB.
		if p.cum.ingest >= 0.01 {
			amp := (p.cum.wal + p.cum.comp) / p.cum.ingest
			last.EngineWriteAmp = &amp
		}
	}
}

func gigabytes(num, unit string) float64 {
	v, _ := strconv.ParseFloat(num, 64)
	switch unit {
	case "MB":
		v /= 1 << 10
	case "KB":
		v /= 1 << 20
	}
	return v
}

func (p *dbBenchParser) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// waitLine handles a line of waitforcompaction: it prints "started" and
// "finished" twice (it checks twice, after a 5 s pause), and "active(P)"
// each time it sleeps 10 s because property P is not 0. At each
// "finished" the process measurements restart, so that the next workload's
// leave the wait out.
func (p *dbBenchParser) waitLine(event, property string) {
	now := p.clock()
	if !p.wait.on {
		p.wait.on, p.wait.start, p.wait.end, p.wait.writeBytes, p.wait.active = true, p.lastResult, now, 0, nil
	}
	switch {
	case event == "finished":
		p.wait.end = now
		if io, err := readIO(p.pid); err == nil {
			p.wait.writeBytes += io.WriteBytes - p.prevIO.WriteBytes
			p.prevIO = io
		}
		_ = resetPeakRSS(p.pid)
	case property != "" && !slices.Contains(p.wait.active, property):
		p.wait.active = append(p.wait.active, property)
	}
}

// takeSettle returns the wait before the current result, if any.
func (p *dbBenchParser) takeSettle() *Settle {
	if !p.wait.on {
		return nil
	}
	p.wait.on = false
	outcome := "waitforcompaction: no flush or compaction pending or running"
	if len(p.wait.active) > 0 {
		outcome += " (after waiting on " + strings.Join(p.wait.active, ", ") + ")"
	}
	return &Settle{Seconds: p.wait.end.Sub(p.wait.start).Seconds(), WriteBytes: p.wait.writeBytes, Outcome: outcome}
}

// result handles a result line: the workload just finished, so the process
// measurements are taken now.
func (p *dbBenchParser) result(m []string) {
	st := p.seg.steps[p.idx]
	r := &Result{Engine: rocksdbName, Workload: st.w.name, Group: p.seg.group, Threads: p.seg.threads, LatencyUnit: "op"}
	if st.w.batch {
		r.LatencyUnit = "batch"
	}
	r.MicrosPerOp, _ = strconv.ParseFloat(m[2], 64)
	r.OpsPerSec, _ = strconv.ParseFloat(m[3], 64)
	r.Seconds, _ = strconv.ParseFloat(m[4], 64)
	r.Ops, _ = strconv.ParseInt(m[5], 10, 64)
	if f := reDBBenchFound.FindStringSubmatch(m[6]); f != nil {
		r.Found, _ = strconv.ParseInt(f[1], 10, 64)
	}
	switch st.w.name {
	case "fillseq", "fillbatch", "fillrandom", "overwrite", "fillsync/1", "fillsync/16":
		r.UserBytes = r.Ops * int64(KeySize+p.o.ValueSize)
	case "deleterandom":
		r.UserBytes = r.Ops * KeySize
	}
	if io, err := readIO(p.pid); err == nil {
		r.DiskWriteBytes = io.WriteBytes - p.prevIO.WriteBytes
		r.CancelledWriteBytes = io.CancelledBytes - p.prevIO.CancelledBytes
		p.prevIO = io
	}
	r.PeakRSS, _ = readPeakRSS(p.pid)
	if resetPeakRSS(p.pid) != nil {
		r.Note = "peak RSS since process start"
	}
	r.DiskSize, r.DiskApparentSize, _ = dirSize(p.dir)
	if st.w.syncAll {
		r.Note = strings.TrimSpace(r.Note + " db_bench fillrandom --sync --writes=" + strconv.FormatInt(max(p.o.SyncOps/int64(p.seg.threads), 1), 10) + " per thread")
	}
	if p.seg.existing {
		r.Note = strings.TrimSpace(r.Note + " reopened database (--use_existing_db)")
	}
	r.Settle = p.takeSettle()
	p.lastResult = p.clock()
	// The previous workload's lines (latencies, stats) are all in now.
	p.flush(len(p.results))
	if r.Settle != nil && p.ui != nil {
		p.ui.linef("%s", settleLine(rocksdbName, r.Workload, r.Settle))
	}
	p.results = append(p.results, r)
	p.mu.Lock()
	p.idx++
	p.mu.Unlock()
}

// flush completes the results before index n, whose output is all read,
// and shows the reported ones.
func (p *dbBenchParser) flush(n int) {
	for ; p.printed < n; p.printed++ {
		r := p.results[p.printed]
		if r.UserBytes > 0 {
			r.WriteBytesPerUserByte = float64(r.DiskWriteBytes) / float64(r.UserBytes)
		}
		if p.ui != nil && p.seg.steps[p.printed].report {
			p.ui.result(r)
		}
	}
}

// reported returns the results of the steps that are reported.
func (p *dbBenchParser) reported() []*Result {
	p.flush(len(p.results))
	var out []*Result
	for i, r := range p.results {
		if p.seg.steps[i].report {
			out = append(out, r)
		}
	}
	return out
}

// showProgress shows the running workload and its elapsed time: db_bench
// reports no operation counts while it runs.
func (p *dbBenchParser) showProgress(u *ui) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				p.mu.Lock()
				i := p.idx
				p.mu.Unlock()
				if i < len(p.seg.steps) {
					u.progress(rocksdbName, p.seg.steps[i].w.name, 0, 0)
				}
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// settings are the options db_bench ran with.
func (p *dbBenchParser) settings(o *options, seg dbBenchSegment) []Setting {
	sync := fmt.Sprintf("--sync=%v", o.Sync || seg.synced)
	if seg.synced && !o.Sync {
		sync += " (fillsync)"
	}
	mem := "default (64 MiB)"
	if o.WriteBufferSize > 0 {
		mem = mib(o.WriteBufferSize)
	}
	s := []Setting{
		{"wal", "on (--disable_wal=false)"},
		{"sync", sync},
		{"block cache", mib(o.CacheSize) + " LRU (--cache_size)"},
		{"bloom filter", fmt.Sprintf("--bloom_bits=%d", o.BloomBits)},
		{"memtable", mem + " (--write_buffer_size)"},
		{"compression", "default: " + p.compression},
		{"block size", "4 KiB (default)"},
		{"compactions", "default background jobs"},
	}
	if o.Settle {
		s = append(s, Setting{"settle", "waitforcompaction before each workload that reads: a 5 s pause, then RocksDB's rocksdb.* properties " +
			"(memtable flush pending, flushes and compactions running or pending) polled every 10 s until all are 0, the whole check twice; no timeout"})
	}
	if rate := dbBenchWriteRate(o, workloadByName("readwhilewriting")); rate > 0 {
		s = append(s, Setting{"write rate", fmt.Sprintf("readwhilewriting in an invocation of its own with --benchmark_write_rate_limit=%d (-writes_per_sec × %d B)", rate, KeySize+o.ValueSize)})
	}
	if p.assertions {
		s = append(s, Setting{"build", "Debian's db_bench has assertions enabled (it warns: benchmarks unnecessarily slow)"})
	}
	return s
}
