package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Every value falls in its bucket's range, and buckets are in value order.
func TestBucketRange(t *testing.T) {
	prevHi := uint64(0)
	for b := 0; b < histBuckets; b++ {
		lo, hi := bucketRange(b)
		if b > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", b, lo, prevHi)
		}
		if bucketOf(lo) != b || bucketOf(hi) != b {
			t.Fatalf("bucket %d = [%d, %d], but bucketOf gives %d and %d", b, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/16+1e-9 {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/16 of its values", b, lo, hi)
		}
		prevHi = hi
		if hi == ^uint64(0) {
			break
		}
	}
	if prevHi != ^uint64(0) {
		t.Fatalf("buckets end at %d, not at the largest uint64", prevHi)
	}
}

// Quantiles are within 3.2% of the exact ones, over several magnitudes.
func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	vals := make([]uint64, 100000)
	for i := range vals {
		vals[i] = uint64(rng.ExpFloat64() * float64(rng.IntN(4)+1) * 5000) // ns, a long tail
		h.record(time.Duration(vals[i]))
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.quantile(q)
		if d := float64(got) - float64(exact); d > 0.032*float64(exact)+1 || -d > 0.032*float64(exact)+1 {
			t.Errorf("q%.3f = %d, exact %d", q, got, exact)
		}
	}
	if h.min != vals[0] || h.max != vals[len(vals)-1] {
		t.Errorf("min/max %d/%d, want %d/%d", h.min, h.max, vals[0], vals[len(vals)-1])
	}
	var a, b histogram
	for i, v := range vals {
		if i%2 == 0 {
			a.record(time.Duration(v))
		} else {
			b.record(time.Duration(v))
		}
	}
	a.merge(&b)
	if a.counts != h.counts || a.n != h.n || a.sum != h.sum || a.min != h.min || a.max != h.max {
		t.Errorf("merged halves differ from the whole")
	}
}
