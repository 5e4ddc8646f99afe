package iterator

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

// randomChildren returns 0-6 sorted children over an overlapping key space
// (some empty, some sharing internal keys) and the model of their merge:
// the sorted union, equal keys ordered by child index.
func randomChildren(rng *rand.Rand, keySpace, maxSeq int) (children []*sliceIter, union []kv) {
	n := rng.IntN(7)
	for c := range n {
		var kvs []kv
		size := rng.IntN(40)
		if rng.IntN(4) == 0 {
			size = 0
		}
		// Each child covers a random part of the key space.
		lo := rng.IntN(keySpace)
		hi := lo + 1 + rng.IntN(keySpace-lo)
		for j := range size {
			uk := []byte(fmt.Sprintf("k%02d", lo+rng.IntN(hi-lo)))
			kind := base.KindSet
			if rng.IntN(3) == 0 {
				kind = base.KindDelete
			}
			key := base.MakeInternalKey(uk, base.SeqNum(rng.IntN(maxSeq+1)), kind)
			kvs = append(kvs, kv{key, []byte(fmt.Sprintf("c%d.%d", c, j))})
		}
		sortKVs(kvs)
		children = append(children, newSliceIter(kvs))
		union = append(union, kvs...)
	}
	sortKVs(union) // stable: ties stay in child order
	return children, union
}

func asInternal(children []*sliceIter) []base.InternalIterator {
	its := make([]base.InternalIterator, len(children))
	for i, c := range children {
		its[i] = c
	}
	return its
}

// A MergingIter yields the sorted union of its children, in both
// directions and across direction switches, whatever the overlap, with
// empty children and with equal internal keys in several children (seq
// numbers from a tiny range make them common, including trailer 0).
func TestMergingMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for iter := range 400 {
		keySpace := []int{3, 10, 40}[iter%3]
		maxSeq := []int{1, 3, 20}[iter%3]
		children, union := randomChildren(rng, keySpace, maxSeq)
		m := NewMerging(cmp, asInternal(children)...)
		checkOps(t, rng, m, union, 300, seekKeyGen(rng, keySpace, maxSeq))
		require.NoError(t, m.Close())
		for i, c := range children {
			require.True(t, c.closed, "child %d not closed", i)
		}
	}
}

// Equal internal keys are ordered by child index; a direction switch on a
// tie neither repeats nor loses an entry.
func TestMergingTies(t *testing.T) {
	k := func(uk string, seq base.SeqNum) base.InternalKey {
		return base.MakeInternalKey([]byte(uk), seq, base.KindSet)
	}
	c0 := newSliceIter([]kv{{k("a", 1), []byte("0a")}, {k("b", 0), []byte("0b")}})
	c1 := newSliceIter([]kv{{k("a", 1), []byte("1a")}, {k("b", 0), []byte("1b")}})
	c2 := newSliceIter([]kv{{k("a", 1), []byte("2a")}})
	m := NewMerging(cmp, c0, c1, c2)
	var got []string
	for ok := m.First(); ok; ok = m.Next() {
		got = append(got, string(m.Value()))
	}
	require.Equal(t, []string{"0a", "1a", "2a", "0b", "1b"}, got)
	got = got[:0]
	for ok := m.Last(); ok; ok = m.Prev() {
		got = append(got, string(m.Value()))
	}
	require.Equal(t, []string{"1b", "0b", "2a", "1a", "0a"}, got)

	// Switch at each tie (trailer 0 takes the slow path).
	require.True(t, m.SeekGE(k("a", 1)))
	require.True(t, m.Next())
	require.Equal(t, "1a", string(m.Value()))
	require.True(t, m.Prev())
	require.Equal(t, "0a", string(m.Value()))
	require.True(t, m.Next())
	require.Equal(t, "1a", string(m.Value()))
	require.True(t, m.SeekLT(k("c", 5)))
	require.Equal(t, "1b", string(m.Value()))
	require.True(t, m.Prev())
	require.Equal(t, "0b", string(m.Value()))
	require.True(t, m.Next())
	require.Equal(t, "1b", string(m.Value()))
	require.True(t, m.Prev())
	require.True(t, m.Prev())
	require.Equal(t, "2a", string(m.Value()))
	require.NoError(t, m.Close())
}

// A child that fails ends the iteration: the failing call and every later
// positioning call return false, Error is the child's error, and Close
// still closes every child and returns it.
func TestMergingErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	tested := 0
	for range 300 {
		children, union := randomChildren(rng, 10, 5)
		if len(children) == 0 {
			continue
		}
		bad := children[rng.IntN(len(children))]
		bad.failAt = 1 + rng.IntN(40)
		m := NewMerging(cmp, asInternal(children)...)
		md := &model{kvs: union, pos: -1}
		key := seekKeyGen(rng, 10, 5)
		for range 100 {
			o := randomOp(rng, key)
			got, exp := apply(m, o), md.apply(o)
			if bad.failed {
				require.False(t, got, "%s after a child failed", o)
				require.False(t, m.Valid())
				require.ErrorIs(t, m.Error(), bad.err)
				continue
			}
			require.Equal(t, exp, got, "%s", o)
			require.NoError(t, m.Error())
			if exp {
				require.Equal(t, md.kvs[md.pos].String(), kv{m.Key(), m.Value()}.String())
			}
		}
		if bad.failed {
			tested++
			require.False(t, m.First(), "failures are final")
			require.ErrorIs(t, m.Close(), bad.err)
		} else {
			require.NoError(t, m.Close())
		}
		for _, c := range children {
			require.True(t, c.closed)
		}
	}
	require.Greater(t, tested, 50, "too few runs met the injected failure")
}

// Close returns the first error of a child even when the iteration never
// met it.
func TestMergingCloseError(t *testing.T) {
	a, b := newSliceIter(nil), newSliceIter(nil)
	b.failAt, b.failed, b.err = 1, true, fmt.Errorf("b failed")
	m := NewMerging(cmp, a, b)
	require.ErrorIs(t, m.Close(), b.err)
	require.True(t, a.closed && b.closed)

	require.False(t, NewMerging(cmp).First(), "no children: empty")
}
