package main

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The generator follows P(i) ∝ 1/(i+1)^θ: item 0 is the most popular, and
// item 0 is drawn about 2^θ times as often as item 1.
func TestZipfian(t *testing.T) {
	const n, draws = 10000, 400000
	z := newZipfian(rand.New(rand.NewPCG(3, 4)), n)
	counts := make([]int, n)
	for range draws {
		v := z.next()
		if v >= n {
			t.Fatalf("draw %d outside [0, %d)", v, n)
		}
		counts[v]++
	}
	// Expected share of item 0: 1/ζ(n).
	want := draws / z.zetaN
	if got := float64(counts[0]); math.Abs(got-want) > 0.05*want {
		t.Errorf("item 0 drawn %v times, want about %.0f", got, want)
	}
	ratio := float64(counts[0]) / float64(counts[1])
	if want := math.Pow(2, zipfTheta); math.Abs(ratio-want) > 0.15 {
		t.Errorf("item 0 / item 1 = %.2f, want about %.2f", ratio, want)
	}
	top := 0
	for _, c := range counts[:n/100] {
		top += c
	}
	if share := float64(top) / draws; share < 0.4 || share > 0.7 {
		t.Errorf("the top 1%% of items got %.0f%% of the draws", 100*share)
	}
}

// latest favours the newest items, and growing the range extends ζ as if
// it had been computed for the new n.
func TestZipfianLatestAndGrow(t *testing.T) {
	z := newZipfian(rand.New(rand.NewPCG(5, 6)), 1000)
	z.grow(2000)
	fresh := newZipfian(rand.New(rand.NewPCG(5, 6)), 2000)
	if math.Abs(z.zetaN-fresh.zetaN) > 1e-9 || math.Abs(z.eta-fresh.eta) > 1e-12 {
		t.Errorf("grown ζ %v η %v, fresh ζ %v η %v", z.zetaN, z.eta, fresh.zetaN, fresh.eta)
	}
	newest := 0
	for range 10000 {
		v := z.latest()
		if v >= 2000 {
			t.Fatalf("latest %d outside [0, 2000)", v)
		}
		if v == 1999 {
			newest++
		}
	}
	if newest < 1000 {
		t.Errorf("the newest item drawn %d times in 10000", newest)
	}
	s := z.scrambled()
	if s >= 2000 {
		t.Errorf("scrambled %d outside [0, 2000)", s)
	}
}
