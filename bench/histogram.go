package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram records latencies in nanoseconds in log-linear buckets, like
// HdrHistogram's: one bucket per nanosecond below 32 ns, and above that
// each power of two split into 16 equal buckets. A percentile is reported
// as the middle of its bucket, within 1/32 (3%) of the true value whatever
// its magnitude. Recording is a few instructions and no allocation. Not
// safe for concurrent use: each goroutine keeps one and they are merged.
type histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      uint64
	min, max uint64
}

const (
	subBits     = 5
	subCount    = 1 << subBits // linear buckets below 32 ns
	halfSub     = subCount / 2 // buckets per power of two above
	histBuckets = subCount + (64-subBits)*halfSub
)

// bucketOf returns v's bucket.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits // ≥ 1: v>>e is in [16, 32)
	return subCount + (e-1)*halfSub + int(v>>e) - halfSub
}

// bucketRange returns the values [lo, hi] that bucket b holds.
func bucketRange(b int) (lo, hi uint64) {
	if b < subCount {
		return uint64(b), uint64(b)
	}
	e := (b-subCount)/halfSub + 1
	m := uint64((b-subCount)%halfSub + halfSub)
	lo = m << e
	return lo, lo + (1 << e) - 1
}

func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the value at quantile q (0 < q ≤ 1): the middle of the
// bucket that holds it, clamped to the observed minimum and maximum.
func (h *histogram) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(b)
			return min(max(lo+(hi-lo)/2, h.min), h.max)
		}
	}
	return h.max
}

func (h *histogram) mean() float64 {
	if h.n == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.n)
}
