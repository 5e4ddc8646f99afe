package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distributedkv/dkv/bench/internal/histogram"
	"github.com/distributedkv/dkv/client"
)

// keyLen is the length of every key: its index in decimal, zero-padded.
const keyLen = 16

// putKey writes key i into b: 16 decimal digits, so keys sort by index and
// read well on the dashboard.
func putKey(b *[keyLen]byte, i int) {
	for j := keyLen - 1; j >= 0; j-- {
		b[j] = '0' + byte(i%10)
		i /= 10
	}
}

// values is a buffer of random printable bytes; a value is a window of it.
type values []byte

func newValues(seed uint64, size int) values {
	r := rand.New(rand.NewPCG(seed, 0x76616c756573))
	v := make(values, 64<<10+size)
	for i := range v {
		v[i] = ' ' + byte(r.IntN(95))
	}
	return v
}

func (v values) pick(r *rand.Rand, size int) []byte {
	o := r.IntN(len(v) - size + 1)
	return v[o : o+size]
}

// outcome counts operations by how they ended.
type outcome struct {
	ok        int64
	ambiguous int64 // writes that may or may not have been applied (client.ErrAmbiguous, errAmbiguous)
	failed    int64 // any other error: a write that was not applied, a read that failed
	notFound  int64 // gets of a preloaded key that found nothing: preload or durability trouble
	firstErr  string
}

func (o *outcome) add(err error) {
	switch {
	case err == nil:
		o.ok++
		return
	case errors.Is(err, client.ErrNotFound), errors.Is(err, errNotFound):
		o.notFound++
	case errors.Is(err, client.ErrAmbiguous), errors.Is(err, errAmbiguous):
		o.ambiguous++
	default:
		o.failed++
	}
	if o.firstErr == "" {
		o.firstErr = err.Error()
	}
}

func (o *outcome) merge(p outcome) {
	o.ok += p.ok
	o.ambiguous += p.ambiguous
	o.failed += p.failed
	o.notFound += p.notFound
	if o.firstErr == "" {
		o.firstErr = p.firstErr
	}
}

func (o outcome) errors() int64 { return o.ambiguous + o.failed + o.notFound }

// preload puts keys 0..cfg.keys-1 from cfg.loaders goroutines. A put that
// fails is tried again, up to three times in all (a put of the same value
// is safe to repeat); a key still not written fails the preload.
func preload(ctx context.Context, cl kv, cfg config, vals values) (Preload, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var total outcome
	start := time.Now()
	stop := make(chan struct{})
	go func() { // progress, for the minute a large preload takes
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "preload: %d of %d keys\n", min(next.Load(), int64(cfg.keys)), cfg.keys)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range cfg.loaders {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(cfg.seed, uint64(w)))
			var o outcome
			var key [keyLen]byte
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.keys || ctx.Err() != nil {
					break
				}
				putKey(&key, i)
				v := vals.pick(r, cfg.valueSize)
				var err error
				for range 3 {
					if err = cl.Put(ctx, key[:], v); err == nil || ctx.Err() != nil {
						break
					}
					o.add(err) // counted as an error of the preload, then tried again
				}
				if err == nil {
					o.ok++
				} else if o.firstErr == "" {
					o.firstErr = err.Error()
				}
			}
			mu.Lock()
			total.merge(o)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(stop)
	secs := time.Since(start).Seconds()
	p := Preload{Keys: cfg.keys, Loaders: cfg.loaders, Seconds: secs, OpsPerSec: float64(total.ok) / secs,
		FailedAttempts: total.errors(), FirstError: total.firstErr}
	if err := ctx.Err(); err != nil {
		return p, err
	}
	if total.ok != int64(cfg.keys) {
		return p, fmt.Errorf("preload: %d of %d keys not written after three tries (first error: %s)", int64(cfg.keys)-total.ok, cfg.keys, total.firstErr)
	}
	return p, nil
}

// cell is one measurement: a workload at a number of client goroutines.
type cell struct {
	workload string
	clients  int
}

// worker is one goroutine's part of a cell.
type worker struct {
	hist histogram.Histogram
	outcome
}

// runCell runs a cell: c.clients goroutines, each in a closed loop of
// operations on uniformly random preloaded keys, through clients[g %
// len(clients)], for cfg.warmup and then cfg.duration. Only operations
// that start in the measured window count, each with its latency whatever
// its outcome; the CPU times of the nodes and of this process are read at
// the window's edges. The keys, values and put/get choices depend only on
// the seed, the client count and the goroutine, so every system gets the
// same sequence of operations.
func runCell(ctx context.Context, clients []kv, c cell, cfg config, nodes []*node, vals values) (Cell, error) {
	start := time.Now()
	from := start.Add(cfg.warmup)
	to := from.Add(cfg.duration)
	workers := make([]worker, c.clients)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			w := &workers[g]
			cl := clients[g%len(clients)]
			r := rand.New(rand.NewPCG(cfg.seed, uint64(c.clients)<<32|uint64(g)))
			var key [keyLen]byte
			for ctx.Err() == nil {
				putKey(&key, r.IntN(cfg.keys))
				put := c.workload == "put" || c.workload == "mix" && r.IntN(2) == 0
				t0 := time.Now()
				if !t0.Before(to) {
					break
				}
				var err error
				if put {
					err = cl.Put(ctx, key[:], vals.pick(r, cfg.valueSize))
				} else {
					err = cl.Get(ctx, key[:])
				}
				if t0.Before(from) || ctx.Err() != nil {
					continue
				}
				w.hist.Record(time.Since(t0))
				w.add(err)
			}
		})
	}
	before, t1, err := snapshotCPU(ctx, from, nodes)
	if err != nil {
		wg.Wait()
		return Cell{}, err
	}
	after, t2, err := snapshotCPU(ctx, to, nodes)
	wg.Wait()
	if err != nil {
		return Cell{}, err
	}
	var hist histogram.Histogram
	var total outcome
	for i := range workers {
		hist.Merge(&workers[i].hist)
		total.merge(workers[i].outcome)
	}
	return cellResult(c, cfg.duration, &hist, total, before, after, t2.Sub(t1)), nil
}

// cpuSnapshot holds the CPU time so far of each node and of this process.
type cpuSnapshot struct {
	nodes []time.Duration
	self  time.Duration
}

// snapshotCPU waits until at, then reads the CPU times; it returns them
// and when it read them.
func snapshotCPU(ctx context.Context, at time.Time, nodes []*node) (cpuSnapshot, time.Time, error) {
	select {
	case <-ctx.Done():
		return cpuSnapshot{}, time.Time{}, context.Cause(ctx)
	case <-time.After(time.Until(at)):
	}
	var s cpuSnapshot
	now := time.Now()
	for _, n := range nodes {
		d, err := cpuTime(n.pid())
		if err != nil {
			return s, now, fmt.Errorf("%v: %w", n, err)
		}
		s.nodes = append(s.nodes, d)
	}
	var err error
	s.self, err = cpuTime("self")
	return s, now, err
}

// cellResult turns a cell's measurements into its row. The operations
// counted are those that started in a window of length window; the CPU
// times were read cpuWindow apart (a little more or less, as the reading
// goroutine was scheduled), so CPU per operation is CPU time per second
// of cpuWindow over operations per second.
func cellResult(c cell, window time.Duration, h *histogram.Histogram, o outcome, before, after cpuSnapshot, cpuWindow time.Duration) Cell {
	secs := window.Seconds()
	r := Cell{
		Workload: c.workload, Clients: c.clients, Seconds: secs,
		Ops: o.ok, OpsPerSec: float64(o.ok) / secs,
		MeanMicros: micros(h.Mean()), P50: micros(h.Quantile(0.50)), P99: micros(h.Quantile(0.99)),
		P999: micros(h.Quantile(0.999)), MaxMicros: micros(h.Max()),
		Ambiguous: o.ambiguous, Failed: o.failed, NotFound: o.notFound, FirstError: o.firstErr,
	}
	var nodeCPU time.Duration
	for i := range after.nodes {
		d := after.nodes[i] - before.nodes[i]
		nodeCPU += d
		r.NodeCPUSeconds = append(r.NodeCPUSeconds, d.Seconds())
	}
	r.BenchCPUSeconds = (after.self - before.self).Seconds()
	if r.OpsPerSec > 0 && cpuWindow > 0 {
		perSec := r.OpsPerSec * cpuWindow.Seconds()
		r.CPUMicrosPerOp = nodeCPU.Seconds() / perSec * 1e6
		r.BenchCPUMicrosPerOp = r.BenchCPUSeconds / perSec * 1e6
	}
	return r
}

func micros(d time.Duration) float64 { return float64(d) / 1e3 }
