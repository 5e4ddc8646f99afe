package main

import (
	"fmt"
	"time"
)

// YCSB's core workloads A-F over records whose keys are
// makeKey(scramble(id)): ycsb-load inserts ids [0, num); D and E insert
// more, from r.ycsbCount on.

// ycsbMix is a workload's operation mix (the proportions add up to 1).
type ycsbMix struct {
	read, update, insert, scan, rmw float64
	latest                          bool // D: the newest records are the most popular
}

var ycsbMixes = map[string]ycsbMix{
	"ycsb-a": {read: 0.5, update: 0.5},
	"ycsb-b": {read: 0.95, update: 0.05},
	"ycsb-c": {read: 1},
	"ycsb-d": {read: 0.95, insert: 0.05, latest: true},
	"ycsb-e": {scan: 0.95, insert: 0.05},
	"ycsb-f": {read: 0.5, rmw: 0.5},
}

// ycsbMaxScan is workload E's longest scan; lengths are uniform in
// [1, ycsbMaxScan].
const ycsbMaxScan = 100

func ycsbKey(buf []byte, id uint64) []byte { return makeKey(buf, scramble(id)) }

func ycsbLoad(r *runner, w *workload) (*Result, error) {
	res, err := r.parallel(w, 1, r.o.Num, func(s *threadState, n int64) (int64, error) {
		for i := range n {
			k, v := ycsbKey(s.key[:], uint64(i)), s.val.next()
			t := time.Now()
			if err := r.eng.Put(k, v); err != nil {
				return i, err
			}
			s.done(t, 1)
			s.userBytes += int64(len(k) + len(v))
		}
		return n, nil
	})
	r.ycsbCount.Store(uint64(r.o.Num))
	return res, err
}

func ycsbRun(r *runner, w *workload) (*Result, error) {
	mix, ok := ycsbMixes[w.name]
	if !ok {
		return nil, fmt.Errorf("no YCSB mix for %s", w.name)
	}
	return r.parallel(w, w.threadsFor(r.o), r.o.YCSBOps, func(s *threadState, n int64) (int64, error) {
		z := newZipfian(s.rng, r.ycsbCount.Load())
		for i := range n {
			if err := r.ycsbOp(s, z, mix); err != nil {
				return i, err
			}
		}
		return n, nil
	})
}

// ycsbOp draws and times one operation of mix.
func (r *runner) ycsbOp(s *threadState, z *zipfian, mix ycsbMix) error {
	z.grow(r.ycsbCount.Load())
	p := s.rng.Float64()
	var id uint64
	if mix.latest {
		id = z.latest()
	} else {
		id = z.scrambled()
	}
	k := ycsbKey(s.key[:], id)
	switch {
	case p < mix.read:
		t := time.Now()
		v, found, err := r.eng.Get(k, s.dst)
		s.done(t, 1)
		s.dst = v
		if found {
			s.found++
		}
		return err
	case p < mix.read+mix.update:
		v := s.val.next()
		t := time.Now()
		err := r.eng.Put(k, v)
		s.done(t, 1)
		s.userBytes += int64(len(k) + len(v))
		return err
	case p < mix.read+mix.update+mix.rmw:
		v := s.val.next()
		t := time.Now()
		old, found, err := r.eng.Get(k, s.dst)
		if err == nil {
			err = r.eng.Put(k, v)
		}
		s.done(t, 1)
		s.dst = old
		if found {
			s.found++
		}
		s.userBytes += int64(len(k) + len(v))
		return err
	case p < mix.read+mix.update+mix.rmw+mix.scan:
		length := 1 + s.rng.IntN(ycsbMaxScan)
		t := time.Now()
		err := r.scanFrom(s, k, length)
		s.done(t, 1)
		return err
	default: // insert
		id := r.ycsbCount.Add(1) - 1
		k, v := ycsbKey(s.key[:], id), s.val.next()
		t := time.Now()
		err := r.eng.Put(k, v)
		s.done(t, 1)
		s.userBytes += int64(len(k) + len(v))
		return err
	}
}

// scanFrom reads up to length records from the first key at or after k,
// with a new iterator, as a YCSB scan does.
func (r *runner) scanFrom(s *threadState, k []byte, length int) error {
	it, err := r.eng.NewIter()
	if err != nil {
		return err
	}
	ok := it.SeekGE(k)
	for j := 0; ok; j++ {
		s.bytesRead += int64(len(it.Key()) + len(it.Value()))
		if j+1 == length {
			break
		}
		ok = it.Next()
	}
	return it.Close()
}
