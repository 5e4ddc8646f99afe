package histogram

import (
	"math"
	"math/bits"
	"time"
)

// Histogram is a latency distribution in nanoseconds (see the package
// documentation for its buckets and precision).
type Histogram struct {
	counts   [buckets]uint64
	n        uint64
	sum      uint64
	min, max uint64
}

const (
	subBits  = 5
	subCount = 1 << subBits // linear buckets below 32 ns
	halfSub  = subCount / 2 // buckets per power of two above
	buckets  = subCount + (64-subBits)*halfSub
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

// Record adds one latency; a negative one counts as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += v
}

// Merge adds every latency of o to h.
func (h *Histogram) Merge(o *Histogram) {
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

// Count returns the number of latencies recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest latency recorded (0 when empty).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the mean latency (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// Quantile returns the latency at quantile q (0 < q ≤ 1): the middle of
// the bucket that holds the ⌈q·n⌉-th smallest latency, clamped to the
// observed minimum and maximum. An empty histogram returns 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(h.n))), 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(b)
			return time.Duration(min(max(lo+(hi-lo)/2, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
