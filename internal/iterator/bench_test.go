package iterator

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/distributedkv/dkv/internal/base"
)

// benchChildren spreads n entries (user keys with versions each, the
// newest first) at random over k stable sliceIters.
func benchChildren(n, k, versions int) []base.InternalIterator {
	rng := rand.New(rand.NewPCG(9, 9))
	parts := make([][]kv, k)
	value := []byte("value-0123456789")
	for i := range n / versions {
		uk := []byte(fmt.Sprintf("user-key-%08d", i))
		for v := range versions {
			seq := base.SeqNum(versions*i + versions - v) // newest first
			kind := base.KindSet
			if v == 1 {
				kind = base.KindDelete // the second newest is a tombstone
			}
			c := rng.IntN(k)
			parts[c] = append(parts[c], kv{base.MakeInternalKey(uk, seq, kind), value})
		}
	}
	its := make([]base.InternalIterator, k)
	for i, p := range parts {
		sortKVs(p)
		s := newSliceIter(p)
		s.stable = true
		its[i] = s
	}
	return its
}

// One op is one step of the merged stream: 8 children, 100k entries.
func BenchmarkMergingNext(b *testing.B) {
	m := NewMerging(cmp, benchChildren(100_000, 8, 1)...)
	m.First()
	b.ResetTimer()
	for range b.N {
		if !m.Next() {
			m.First()
		}
	}
}

func BenchmarkMergingPrev(b *testing.B) {
	m := NewMerging(cmp, benchChildren(100_000, 8, 1)...)
	m.Last()
	b.ResetTimer()
	for range b.N {
		if !m.Prev() {
			m.Last()
		}
	}
}

// One op is one user key. With versions=3 each key has its newest value
// over a tombstone over an older value: moving forward the iterator returns
// the first and steps over the other two; moving backward it scans all
// three and copies the newest.
func benchVisible(b *testing.B, children, versions int, reverse bool) {
	var inner base.InternalIterator
	its := benchChildren(100_000, children, versions)
	if children == 1 {
		inner = its[0]
	} else {
		inner = NewMerging(cmp, its...)
	}
	v := NewVisible(cmp, inner, base.SeqNumMax, nil, nil)
	start, step := v.First, v.Next
	if reverse {
		start, step = v.Last, v.Prev
	}
	start()
	b.ResetTimer()
	for range b.N {
		if !step() {
			start()
		}
	}
}

func BenchmarkVisibleNext(b *testing.B) {
	for _, c := range []struct{ children, versions int }{{1, 1}, {1, 3}, {8, 1}, {8, 3}} {
		b.Run(fmt.Sprintf("children=%d/versions=%d", c.children, c.versions), func(b *testing.B) {
			benchVisible(b, c.children, c.versions, false)
		})
	}
}

func BenchmarkVisiblePrev(b *testing.B) {
	for _, c := range []struct{ children, versions int }{{1, 1}, {1, 3}, {8, 1}, {8, 3}} {
		b.Run(fmt.Sprintf("children=%d/versions=%d", c.children, c.versions), func(b *testing.B) {
			benchVisible(b, c.children, c.versions, true)
		})
	}
}
