package histogram

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Buckets tile the uint64 values in order, and each holds at most 1/16 of
// its smallest value above the linear part.
func TestBuckets(t *testing.T) {
	prevHi := uint64(0)
	for b := 0; b < buckets; b++ {
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

// Quantiles are within 3.2% of the exact ones over latencies from
// microseconds to tens of milliseconds, and merging two halves gives the
// whole.
func TestQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h, a, b Histogram
	vals := make([]time.Duration, 100000)
	for i := range vals {
		vals[i] = time.Duration(rng.ExpFloat64() * float64(rng.IntN(4)+1) * 2e6) // a long tail around milliseconds
		h.Record(vals[i])
		if i%2 == 0 {
			a.Record(vals[i])
		} else {
			b.Record(vals[i])
		}
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if d := float64(got - exact); d > 0.032*float64(exact)+1 || -d > 0.032*float64(exact)+1 {
			t.Errorf("q%g = %v, exact %v", q, got, exact)
		}
	}
	if h.Max() != vals[len(vals)-1] {
		t.Errorf("max %v, want %v", h.Max(), vals[len(vals)-1])
	}
	a.Merge(&b)
	if a != h {
		t.Errorf("merged halves differ from the whole")
	}
	if h.Count() != uint64(len(vals)) {
		t.Errorf("count %d, want %d", h.Count(), len(vals))
	}
}

// An empty histogram answers zeros; the top quantile is within the
// precision of the largest value, and Max is exact.
func TestEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Fatalf("empty: q50 %v mean %v max %v", h.Quantile(0.5), h.Mean(), h.Max())
	}
	h.Record(1234567 * time.Nanosecond)
	h.Record(-time.Second) // counts as 0
	if q := h.Quantile(1); q < 1234567*31/32 || q > 1234567 || h.Max() != 1234567 {
		t.Fatalf("q100 %v max %v, want about 1.234567ms", q, h.Max())
	}
	if h.Quantile(0.5) != 0 || h.Mean() != 1234567/2 {
		t.Fatalf("q50 %v mean %v", h.Quantile(0.5), h.Mean())
	}
}
