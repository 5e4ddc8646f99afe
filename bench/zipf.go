package main

import (
	"math"
	"math/rand/v2"
)

// zipfTheta is YCSB's zipfian constant.
const zipfTheta = 0.99

// zipfian draws integers in [0, n) with P(i) ∝ 1/(i+1)^θ, item 0 the most
// popular, by the method of Gray et al. ("Quickly generating billion-record
// synthetic databases", SIGMOD 1994) that YCSB's ZipfianGenerator uses.
// math/rand/v2's Zipf needs θ > 1; YCSB's θ is 0.99. n may grow (inserts):
// ζ(n) is extended incrementally. Not safe for concurrent use.
type zipfian struct {
	rng   *rand.Rand
	theta float64
	n     uint64
	zetaN float64 // ζ(n) = Σ_{i=1..n} 1/i^θ
	zeta2 float64
	alpha float64
	eta   float64
}

func newZipfian(rng *rand.Rand, n uint64) *zipfian {
	z := &zipfian{rng: rng, theta: zipfTheta}
	z.alpha = 1 / (1 - z.theta)
	z.zeta2 = 1 + math.Pow(0.5, z.theta)
	z.grow(n)
	return z
}

// grow extends the range to [0, n); n never shrinks.
func (z *zipfian) grow(n uint64) {
	if n <= z.n {
		return
	}
	for i := z.n + 1; i <= n; i++ {
		z.zetaN += 1 / math.Pow(float64(i), z.theta)
	}
	z.n = n
	z.eta = (1 - math.Pow(2/float64(n), 1-z.theta)) / (1 - z.zeta2/z.zetaN)
}

// next returns a draw in [0, n).
func (z *zipfian) next() uint64 {
	u := z.rng.Float64()
	uz := u * z.zetaN
	if uz < 1 {
		return 0
	}
	if uz < z.zeta2 {
		return 1
	}
	v := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(v, z.n-1)
}

// scrambled returns a zipfian draw whose popular items are spread over
// [0, n) by a hash, as YCSB's ScrambledZipfianGenerator does.
func (z *zipfian) scrambled() uint64 {
	return fnv64(z.next()) % z.n
}

// latest returns a draw skewed towards the most recent items: n-1 is the
// most popular, as YCSB's SkewedLatestGenerator (workload D).
func (z *zipfian) latest() uint64 {
	return z.n - 1 - z.next()
}

// fnv64 is YCSB's FNV-1a hash of the eight bytes of v.
func fnv64(v uint64) uint64 {
	h := uint64(0xcbf29ce484222325)
	for range 8 {
		h ^= v & 0xff
		h *= 0x100000001b3
		v >>= 8
	}
	return h
}
