package memtable

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

// The iterator visits every entry in internal-key order, forwards and
// backwards, across many window refills, and seeks land where a sorted
// slice says they should.
func TestIteratorMatchesSortedModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	m := New(base.DefaultComparer, 1<<20)
	var model []base.InternalKey
	for seq := base.SeqNum(1); seq <= 1000; seq++ {
		k := base.MakeInternalKey([]byte(fmt.Sprintf("k%03d", rng.IntN(300))), seq, base.Kind(rng.IntN(2)))
		m.Add(k.SeqNum(), k.Kind(), k.UserKey, []byte(fmt.Sprint(seq)))
		model = append(model, k)
	}
	cmp := func(a, b base.InternalKey) int { return base.InternalCompare(base.DefaultComparer.Compare, a, b) }
	slices.SortFunc(model, cmp)

	it := m.NewIter()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		require.Equal(t, model[i], it.Key())
		require.Equal(t, fmt.Sprint(uint64(it.Key().SeqNum())), string(it.Value()))
		i++
	}
	require.Equal(t, len(model), i)
	for ok := it.Last(); ok; ok = it.Prev() {
		i--
		require.Equal(t, model[i], it.Key())
	}
	require.Equal(t, 0, i)

	for range 500 {
		target := base.MakeInternalKey([]byte(fmt.Sprintf("k%03d", rng.IntN(310))), base.SeqNum(rng.IntN(1100)), base.KindMax)
		ge, _ := slices.BinarySearchFunc(model, target, cmp)
		require.Equal(t, ge < len(model), it.SeekGE(target))
		if ge < len(model) {
			require.Equal(t, model[ge], it.Key())
			// Walk a few steps both ways from the seek.
			for j := ge + 1; j < min(ge+40, len(model)); j++ {
				require.True(t, it.Next())
				require.Equal(t, model[j], it.Key())
			}
		}
		lt := ge - 1
		require.Equal(t, lt >= 0, it.SeekLT(target))
		if lt >= 0 {
			require.Equal(t, model[lt], it.Key())
			for j := lt - 1; j > max(lt-40, -1); j-- {
				require.True(t, it.Prev())
				require.Equal(t, model[j], it.Key())
			}
		}
	}
	// A random walk, in runs long enough to grow the window to its
	// largest, changing direction in the middle of a window.
	i = 0
	require.True(t, it.First())
	for range 200 {
		forward := rng.IntN(2) == 0
		for range rng.IntN(700) {
			if forward {
				if i+1 == len(model) {
					break
				}
				require.True(t, it.Next())
				i++
			} else {
				if i == 0 {
					break
				}
				require.True(t, it.Prev())
				i--
			}
			require.Equal(t, model[i], it.Key())
		}
	}
	require.NoError(t, it.Close())
}

// Iterating while the writer adds entries is safe (run with -race) and
// never skips or repeats an entry that existed when iteration began.
func TestIteratorConcurrentWriter(t *testing.T) {
	m := New(base.DefaultComparer, 1<<20)
	for i := range 500 {
		m.Add(base.SeqNum(i+1), base.KindSet, []byte(fmt.Sprintf("k%04d", i*2)), nil)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 2000 {
			m.Add(base.SeqNum(1000+i), base.KindSet, []byte(fmt.Sprintf("k%04d", i)), nil)
		}
	})
	for range 5 {
		it := m.NewIter()
		var old []string
		prev := base.InternalKey{}
		first := true
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			if !first {
				require.Equal(t, -1, base.InternalCompare(base.DefaultComparer.Compare, prev, k), "order")
			}
			first = false
			prev = base.InternalKey{UserKey: slices.Clone(k.UserKey), Trailer: k.Trailer}
			if k.SeqNum() <= 500 {
				old = append(old, string(k.UserKey))
			}
		}
		require.Len(t, old, 500)
	}
	wg.Wait()
}
