package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// workload is one row of the results. Workloads of one group run in order
// in one process on one database; a fresh workload starts a new, empty one.
type workload struct {
	name  string
	group string
	desc  string
	fresh bool // starts on a new, empty database
	// setup workloads also run, unreported, when only later workloads of
	// their group are selected: the fill those read.
	setup    bool
	syncAll  bool // opens the database with every write synced
	parallel bool // runs in -threads goroutines
	threads  int  // a fixed number of goroutines (fillsync), else 0
	batch    bool // latencies are of batches, not operations
	// reads: the workload reads the database, so -settle waits for the
	// engine's background work before it.
	reads   bool
	dbBench string
	run     func(r *runner, w *workload) (*Result, error)
}

// threadsFor returns how many goroutines w runs in.
func (w *workload) threadsFor(o *options) int {
	switch {
	case w.threads > 0:
		return w.threads
	case w.parallel:
		return o.Threads
	}
	return 1
}

// workloads, in the order they run. Groups: fillseq, fillbatch, random
// (one database: fillrandom, then every workload that reads or changes
// it), fillsync (one fresh database per row), ycsb (one database: load,
// then A, B, C, F, D, E as YCSB orders them: D and E insert).
var workloads = []*workload{
	{name: "fillseq", group: "fillseq", fresh: true, dbBench: "fillseq", run: fillSeq,
		desc: "write num keys in ascending order"},
	{name: "fillbatch", group: "fillbatch", fresh: true, batch: true, dbBench: "fillbatch", run: fillBatch,
		desc: "write num keys in ascending order, in batches of -batch_size (1000); latency per batch"},
	{name: "fillrandom", group: "random", fresh: true, setup: true, dbBench: "fillrandom", run: fillRandom,
		desc: "write num keys drawn uniformly from [0, num), with repeats (about 63% distinct)"},
	{name: "overwrite", group: "random", dbBench: "overwrite", run: fillRandom,
		desc: "write num more random keys over fillrandom's"},
	{name: "readrandom", group: "random", reads: true, parallel: true, dbBench: "readrandom", run: readRandom,
		desc: "get -reads random keys of [0, num) (about 86% exist after fillrandom+overwrite)"},
	{name: "readmissing", group: "random", reads: true, parallel: true, dbBench: "readmissing", run: readMissing,
		desc: "get -reads keys that do not exist (a 17th byte), between existing ones"},
	{name: "readseq", group: "random", reads: true, dbBench: "readseq", run: readSeq,
		desc: "one iterator from the first key forward, up to -reads keys"},
	{name: "readreverse", group: "random", reads: true, dbBench: "readreverse", run: readReverse,
		desc: "one iterator from the last key backward, up to -reads keys"},
	{name: "seekrandom", group: "random", reads: true, parallel: true, dbBench: "seekrandom", run: seekRandom,
		desc: "-reads times: a new iterator, seek to a random key, -seek_nexts (10) Next"},
	{name: "readwhilewriting", group: "random", reads: true, parallel: true, dbBench: "readwhilewriting", run: readWhileWriting,
		desc: "readrandom while one more goroutine overwrites random keys, non-stop or at -writes_per_sec; the readers are reported"},
	{name: "deleterandom", group: "random", dbBench: "deleterandom", run: deleteRandom,
		desc: "delete num random keys of [0, num)"},
	{name: "fillsync/1", group: "fillsync", fresh: true, syncAll: true, threads: 1, dbBench: "fillrandom", run: fillSync,
		desc: "-sync_ops synced writes of random keys from 1 goroutine, on a new database"},
	{name: "fillsync/16", group: "fillsync", fresh: true, syncAll: true, threads: 16, dbBench: "fillrandom", run: fillSync,
		desc: "-sync_ops synced writes of random keys from 16 goroutines (group commit), on a new database"},
	{name: "ycsb-load", group: "ycsb", fresh: true, setup: true, run: ycsbLoad,
		desc: "insert num records in YCSB's hashed order (each key once)"},
	{name: "ycsb-a", group: "ycsb", reads: true, parallel: true, run: ycsbRun, desc: "50% read, 50% update; zipfian"},
	{name: "ycsb-b", group: "ycsb", reads: true, parallel: true, run: ycsbRun, desc: "95% read, 5% update; zipfian"},
	{name: "ycsb-c", group: "ycsb", reads: true, parallel: true, run: ycsbRun, desc: "100% read; zipfian"},
	{name: "ycsb-f", group: "ycsb", reads: true, parallel: true, run: ycsbRun, desc: "50% read, 50% read-modify-write; zipfian"},
	{name: "ycsb-d", group: "ycsb", reads: true, parallel: true, run: ycsbRun, desc: "95% read, 5% insert; the latest records are the most popular"},
	{name: "ycsb-e", group: "ycsb", reads: true, parallel: true, run: ycsbRun, desc: "95% scan (1-100 records from a zipfian key), 5% insert"},
}

func workloadNames() []string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.name
	}
	return names
}

func workloadByName(name string) *workload {
	for _, w := range workloads {
		if w.name == name {
			return w
		}
	}
	return nil
}

// selectWorkloads parses -benchmarks: names, "all", "ycsb" (every YCSB
// workload) and "fillsync" (both rows).
func selectWorkloads(s string) (map[string]bool, error) {
	sel := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		matched := false
		for _, w := range workloads {
			if name == "all" || name == w.name ||
				(name == "ycsb" && w.group == "ycsb") || (name == "fillsync" && w.group == "fillsync") {
				sel[w.name] = true
				matched = true
			}
		}
		if !matched && name != "" {
			return nil, fmt.Errorf("unknown workload %q (known: all, ycsb, fillsync, %s)", name, strings.Join(workloadNames(), ", "))
		}
	}
	if len(sel) == 0 {
		return nil, fmt.Errorf("no workload selected")
	}
	return sel, nil
}

// step is one workload of a group's plan.
type step struct {
	w      *workload
	report bool // false: a setup run for the workloads after it
}

// groupPlans returns, per group in order, the workloads to run.
func groupPlans(sel map[string]bool) (groups []string, plans map[string][]step) {
	plans = map[string][]step{}
	for i, w := range workloads {
		run := sel[w.name]
		if !run && w.setup {
			for _, later := range workloads[i+1:] {
				if later.group == w.group && !later.fresh && sel[later.name] {
					run = true
				}
			}
		}
		if !run {
			continue
		}
		if _, ok := plans[w.group]; !ok {
			groups = append(groups, w.group)
		}
		plans[w.group] = append(plans[w.group], step{w: w, report: sel[w.name]})
	}
	return groups, plans
}

// selectedInOrder returns the selected workload names in workload order.
func selectedInOrder(sel map[string]bool) []string {
	var out []string
	for _, w := range workloads {
		if sel[w.name] {
			out = append(out, w.name)
		}
	}
	return out
}

// sortResults orders results by workload, then engine.
func sortResults(rs []Result) {
	wi := map[string]int{}
	for i, w := range workloads {
		wi[w.name] = i
	}
	ei := map[string]int{}
	for i, e := range engineOrder {
		ei[e] = i
	}
	sort.SliceStable(rs, func(a, b int) bool {
		if wi[rs[a].Workload] != wi[rs[b].Workload] {
			return wi[rs[a].Workload] < wi[rs[b].Workload]
		}
		return ei[rs[a].Engine] < ei[rs[b].Engine]
	})
}

// The db_bench workloads. Each goroutine body does n operations and
// returns how many it did; r.parallel times each one.

func fillSeq(r *runner, w *workload) (*Result, error) {
	return r.parallel(w, 1, r.o.Num, func(s *threadState, n int64) (int64, error) {
		for i := range n {
			k, v := makeKey(s.key[:], uint64(i)), s.val.next()
			t := time.Now()
			if err := r.eng.Put(k, v); err != nil {
				return i, err
			}
			s.done(t, 1)
			s.userBytes += int64(len(k) + len(v))
		}
		return n, nil
	})
}

func fillBatch(r *runner, w *workload) (*Result, error) {
	size := int64(r.o.BatchSize)
	return r.parallel(w, 1, r.o.Num, func(s *threadState, n int64) (int64, error) {
		for i := int64(0); i < n; i += size {
			t := time.Now()
			b := r.eng.NewBatch()
			end := min(i+size, n)
			for j := i; j < end; j++ {
				k, v := makeKey(s.key[:], uint64(j)), s.val.next()
				b.Put(k, v)
				s.userBytes += int64(len(k) + len(v))
			}
			if err := b.Commit(); err != nil {
				return i, err
			}
			s.done(t, end-i)
		}
		return n, nil
	})
}

// fillRandom is fillrandom and overwrite: num writes of uniformly random
// keys (db_bench's semantics; repeats are overwrites).
func fillRandom(r *runner, w *workload) (*Result, error) {
	return r.parallel(w, 1, r.o.Num, r.randomPuts)
}

func (r *runner) randomPuts(s *threadState, n int64) (int64, error) {
	for i := range n {
		k, v := makeKey(s.key[:], s.rng.Uint64N(uint64(r.o.Num))), s.val.next()
		t := time.Now()
		if err := r.eng.Put(k, v); err != nil {
			return i, err
		}
		s.done(t, 1)
		s.userBytes += int64(len(k) + len(v))
	}
	return n, nil
}

func fillSync(r *runner, w *workload) (*Result, error) {
	return r.parallel(w, w.threads, r.o.SyncOps, r.randomPuts)
}

func readRandom(r *runner, w *workload) (*Result, error) {
	return r.parallel(w, w.threadsFor(r.o), r.o.Reads, r.randomGets)
}

func (r *runner) randomGets(s *threadState, n int64) (int64, error) {
	return r.gets(s, n, makeKey)
}

func readMissing(r *runner, w *workload) (*Result, error) {
	return r.parallel(w, w.threadsFor(r.o), r.o.Reads, func(s *threadState, n int64) (int64, error) {
		return r.gets(s, n, makeMissingKey)
	})
}

// gets reads n random keys made by key (present or missing ones).
func (r *runner) gets(s *threadState, n int64, key func([]byte, uint64) []byte) (int64, error) {
	for i := range n {
		k := key(s.key[:], s.rng.Uint64N(uint64(r.o.Num)))
		t := time.Now()
		v, found, err := r.eng.Get(k, s.dst)
		if err != nil {
			return i, err
		}
		s.done(t, 1)
		s.dst = v
		if found {
			s.found++
		}
	}
	return n, nil
}

func readSeq(r *runner, w *workload) (*Result, error)     { return r.scan(w, false) }
func readReverse(r *runner, w *workload) (*Result, error) { return r.scan(w, true) }

// scan walks one iterator over up to -reads keys; an operation is one
// step plus reading the key and value.
func (r *runner) scan(w *workload, reverse bool) (*Result, error) {
	return r.parallel(w, 1, r.o.Reads, func(s *threadState, n int64) (int64, error) {
		it, err := r.eng.NewIter()
		if err != nil {
			return 0, err
		}
		var count int64
		for count < n {
			t := time.Now()
			var ok bool
			switch {
			case count == 0 && reverse:
				ok = it.Last()
			case count == 0:
				ok = it.First()
			case reverse:
				ok = it.Prev()
			default:
				ok = it.Next()
			}
			if !ok {
				break
			}
			s.bytesRead += int64(len(it.Key()) + len(it.Value()))
			s.done(t, 1)
			count++
		}
		return count, it.Close()
	})
}

func seekRandom(r *runner, w *workload) (*Result, error) {
	return r.parallel(w, w.threadsFor(r.o), r.o.Reads, func(s *threadState, n int64) (int64, error) {
		for i := range n {
			k := makeKey(s.key[:], s.rng.Uint64N(uint64(r.o.Num)))
			t := time.Now()
			// A new iterator per seek, as db_bench's seekrandom.
			it, err := r.eng.NewIter()
			if err != nil {
				return i, err
			}
			ok := it.SeekGE(k)
			if ok && bytes.Equal(it.Key(), k) {
				s.found++
			}
			for j := 0; ok && j < r.o.SeekNexts; j++ {
				s.bytesRead += int64(len(it.Key()) + len(it.Value()))
				ok = it.Next()
			}
			if err := it.Close(); err != nil {
				return i, err
			}
			s.done(t, 1)
		}
		return n, nil
	})
}

func readWhileWriting(r *runner, w *workload) (*Result, error) {
	// The writer runs until the readers are done, non-stop or paced at
	// -writes_per_sec; its writes count as the workload's user bytes, its
	// latencies are not reported.
	writer := r.newThread(w, 1<<20)
	stop := make(chan struct{})
	var werr error
	var wg sync.WaitGroup
	wg.Go(func() {
		if r.o.WritesPerSec > 0 {
			werr = r.pacedPuts(writer, newPacer(r.o.WritesPerSec), stop)
			return
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, werr = r.randomPuts(writer, 64); werr != nil {
				return
			}
		}
	})
	res, err := r.parallel(w, w.threadsFor(r.o), r.o.Reads, r.randomGets)
	close(stop)
	wg.Wait()
	if err == nil {
		err = werr
	}
	if res != nil {
		res.UserBytes += writer.userBytes
		res.Note = fmt.Sprintf("writer: %d writes (%.0f/s)", writer.hist.Count(), float64(writer.hist.Count())/res.Seconds)
		if r.o.WritesPerSec > 0 {
			res.Note += fmt.Sprintf(", paced at %d/s", r.o.WritesPerSec)
		}
	}
	return res, err
}

// pacedPuts writes random keys one at a time as p schedules them, until
// stop is closed.
func (r *runner) pacedPuts(s *threadState, p *pacer, stop <-chan struct{}) error {
	t := time.NewTimer(time.Hour)
	t.Stop()
	for p.wait(t, stop) {
		if _, err := r.randomPuts(s, 1); err != nil {
			return err
		}
	}
	return nil
}

func deleteRandom(r *runner, w *workload) (*Result, error) {
	return r.parallel(w, 1, r.o.Num, func(s *threadState, n int64) (int64, error) {
		for i := range n {
			k := makeKey(s.key[:], s.rng.Uint64N(uint64(r.o.Num)))
			t := time.Now()
			if err := r.eng.Delete(k); err != nil {
				return i, err
			}
			s.done(t, 1)
			s.userBytes += int64(len(k))
		}
		return n, nil
	})
}
