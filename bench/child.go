package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distributedkv/dkv/bench/internal/histogram"
)

// A child process runs one engine's workload group and prints JSON lines
// (message) on stdout: settings, progress, results. Its stderr is the
// parent's.

// message is one line of the child's protocol.
type message struct {
	Type     string    `json:"type"` // "settings", "progress", "settle" or "result"
	Workload string    `json:"workload,omitempty"`
	Done     int64     `json:"done,omitempty"`
	Total    int64     `json:"total,omitempty"`
	Synced   bool      `json:"synced,omitempty"` // settings of a database opened with every write synced
	Settings []Setting `json:"settings,omitempty"`
	Settle   *Settle   `json:"settle,omitempty"` // a wait before Workload
	Result   *Result   `json:"result,omitempty"`
}

// runner runs workloads against one engine in a child.
type runner struct {
	o         *options
	engine    string
	group     string
	dir       string
	eng       Engine
	values    *valueSource
	ycsbCount atomic.Uint64 // YCSB records: ids [0, ycsbCount) exist

	mu  sync.Mutex
	enc *json.Encoder
}

func (r *runner) emit(m message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.enc.Encode(m)
}

// runChild runs the group named by -child=engine/group.
func runChild(o *options, stdout io.Writer) error {
	engine, group, ok := strings.Cut(o.child, "/")
	open := engines[engine]
	if !ok || open == nil {
		return fmt.Errorf("-child %q: want a Go engine and a group", o.child)
	}
	sel, err := selectWorkloads(o.Benchmarks)
	if err != nil {
		return err
	}
	_, plans := groupPlans(sel)
	plan := plans[group]
	if len(plan) == 0 {
		return fmt.Errorf("-child %q: no selected workload in group %s", o.child, group)
	}
	if o.DB == "" {
		return fmt.Errorf("-child needs -db")
	}
	r := &runner{
		o: o, engine: engine, group: group,
		dir:    filepath.Join(o.DB, engine+"-"+group),
		values: newValueSource(o.Seed, o.ValueSize, o.CompressionRatio),
		enc:    json.NewEncoder(stdout),
	}
	defer func() {
		if r.eng != nil {
			_ = r.eng.Close()
		}
		if !o.Keep {
			_ = os.RemoveAll(r.dir)
		}
	}()
	for _, st := range plan {
		if st.w.fresh || r.eng == nil {
			if err := r.openFresh(open, st.w.syncAll); err != nil {
				return fmt.Errorf("%s: open: %w", engine, err)
			}
		}
		var waited *Settle
		if o.Settle && st.w.reads {
			s := settle(r.eng, newSettleRule(o, r.eng.Quiet()))
			waited = &s
			r.emit(message{Type: "settle", Workload: st.w.name, Settle: waited})
		}
		res, err := r.measured(st.w)
		if err != nil {
			return fmt.Errorf("%s %s: %w", engine, st.w.name, err)
		}
		res.Settle = waited
		if st.report {
			r.emit(message{Type: "result", Result: res})
		}
	}
	err = r.eng.Close()
	r.eng = nil
	return err
}

// openFresh closes the open database, if any, and opens an empty one.
func (r *runner) openFresh(open opener, synced bool) error {
	if r.eng != nil {
		if err := r.eng.Close(); err != nil {
			return err
		}
		r.eng = nil
	}
	if err := os.RemoveAll(r.dir); err != nil {
		return err
	}
	cfg := r.o.config()
	cfg.Sync = cfg.Sync || synced
	eng, settings, err := open(r.dir, cfg)
	if err != nil {
		return err
	}
	r.eng = eng
	r.emit(message{Type: "settings", Settings: settings, Synced: synced && !r.o.Sync})
	return nil
}

// measured runs w with the process measurements around it.
func (r *runner) measured(w *workload) (*Result, error) {
	// Start each workload from the engine's live memory, not the garbage
	// of the previous one.
	runtime.GC()
	debug.FreeOSMemory()
	rssReset := resetPeakRSS("self") == nil
	io0, ioErr := readIO("self")
	stop, err := r.startProfile(w)
	if err != nil {
		return nil, err
	}
	res, err := w.run(r, w)
	stop()
	if err != nil {
		return nil, err
	}
	io1, ioErr1 := readIO("self")
	res.PeakRSS, _ = readPeakRSS("self")
	res.DiskSize, res.DiskApparentSize, _ = dirSize(r.dir)
	if ioErr == nil && ioErr1 == nil {
		res.DiskWriteBytes = io1.WriteBytes - io0.WriteBytes
		res.CancelledWriteBytes = io1.CancelledBytes - io0.CancelledBytes
	}
	if res.UserBytes > 0 {
		res.WriteBytesPerUserByte = float64(res.DiskWriteBytes) / float64(res.UserBytes)
	}
	if amp, ok := r.eng.WriteAmp(); ok {
		res.EngineWriteAmp = &amp
	}
	if !rssReset {
		res.Note = strings.TrimSpace(res.Note + " peak RSS since process start")
	}
	return res, nil
}

// startProfile starts a CPU profile of w when -cpuprofile names a
// directory, and returns the function that stops it.
func (r *runner) startProfile(w *workload) (stop func(), err error) {
	if r.o.CPUProfile == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(r.o.CPUProfile, 0o755); err != nil {
		return nil, err
	}
	name := r.engine + "-" + strings.ReplaceAll(w.name, "/", "_") + ".pprof"
	f, err := os.Create(filepath.Join(r.o.CPUProfile, name))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// threadState is one goroutine's share of a workload.
type threadState struct {
	rng       *rand.Rand
	key       [KeySize + 1]byte
	val       valueCursor
	dst       []byte
	hist      histogram.Histogram
	found     int64
	userBytes int64
	bytesRead int64
	pending   int64
	progress  *atomic.Int64
}

// newThread returns goroutine id's state for w: the same seed for every
// engine, so that all see the same keys in the same order.
func (r *runner) newThread(w *workload, id int) *threadState {
	h := fnv.New64a()
	h.Write([]byte(w.name))
	s := &threadState{
		rng:      rand.New(rand.NewPCG(r.o.Seed, h.Sum64()+uint64(id))),
		dst:      make([]byte, 0, r.o.ValueSize),
		progress: new(atomic.Int64),
	}
	s.val = valueCursor{src: r.values, pos: (id * 7919 * r.o.ValueSize) % len(r.values.data)}
	return s
}

// done records an operation (or a batch of ops writes) that started at t.
func (s *threadState) done(t time.Time, ops int64) {
	s.hist.Record(time.Since(t))
	s.pending += ops
	if s.pending >= 256 {
		s.progress.Add(s.pending)
		s.pending = 0
	}
}

// parallel runs body in threads goroutines that share total operations,
// and returns the workload's result (without the process measurements).
func (r *runner) parallel(w *workload, threads int, total int64, body func(s *threadState, n int64) (int64, error)) (*Result, error) {
	progress := new(atomic.Int64)
	states := make([]*threadState, threads)
	for i := range states {
		states[i] = r.newThread(w, i)
		states[i].progress = progress
	}
	stopProgress := r.reportProgress(w.name, progress, total)
	ops := make([]int64, threads)
	errs := make([]error, threads)
	var wg sync.WaitGroup
	start := time.Now()
	for i, s := range states {
		n := total / int64(threads)
		if int64(i) < total%int64(threads) {
			n++
		}
		wg.Go(func() { ops[i], errs[i] = body(s, n) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	res := &Result{Engine: r.engine, Workload: w.name, Group: r.group, Threads: threads, LatencyUnit: "op"}
	if w.batch {
		res.LatencyUnit = "batch"
	}
	var h histogram.Histogram
	for i, s := range states {
		if errs[i] != nil {
			return nil, errs[i]
		}
		res.Ops += ops[i]
		res.Found += s.found
		res.UserBytes += s.userBytes
		h.Merge(&s.hist)
	}
	res.Seconds = elapsed.Seconds()
	if res.Ops > 0 {
		res.OpsPerSec = float64(res.Ops) / res.Seconds
		res.MicrosPerOp = res.Seconds * 1e6 * float64(threads) / float64(res.Ops)
	}
	res.MeanMicros = float64(h.Mean()) / 1e3
	res.P50 = float64(h.Quantile(0.50)) / 1e3
	res.P99 = float64(h.Quantile(0.99)) / 1e3
	res.P999 = float64(h.Quantile(0.999)) / 1e3
	res.MaxMicros = float64(h.Max()) / 1e3
	return res, nil
}

// reportProgress prints progress messages every 200 ms until the returned
// function is called.
func (r *runner) reportProgress(name string, done *atomic.Int64, total int64) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				r.emit(message{Type: "progress", Workload: name, Done: done.Load(), Total: total})
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}
