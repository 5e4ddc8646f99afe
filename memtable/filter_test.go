package memtable

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

// The filter never hides a key that was added, and at the density a full
// memtable of db_bench entries reaches (16-byte keys, 100-byte values) it
// stops more than nine absent keys in ten. The hash's seed is random per
// process, so one filter's rate varies (9.5–10.05% at 5.1 bits a key, the
// density under -race): the rate asserted is the mean over several seeds.
func TestFilterFalsePositives(t *testing.T) {
	const capacity = 4 << 20
	saved := filterSeed
	defer func() { filterSeed = saved }()
	const seeds = 8
	var sum float64
	for s := range seeds {
		filterSeed = maphash.MakeSeed()
		rate, bits := filterRate(t, capacity)
		t.Logf("seed %d: %.1f bits a key: false positives %.3f%%", s, bits, 100*rate)
		sum += rate
	}
	require.Less(t, sum/seeds, 0.10)
}

// filterRate fills a memtable of capacity with even keys, checks that the
// filter passes every one, and returns its false-positive rate on the odd
// keys and its bits per key.
func filterRate(t *testing.T, capacity int64) (rate, bitsPerKey float64) {
	m := New(base.DefaultComparer, capacity)
	require.NotNil(t, m.filter)
	value := make([]byte, 100)
	var key [16]byte
	n := 0
	for i := 0; m.ApproximateSize() < capacity; i++ {
		binary.BigEndian.PutUint64(key[:], uint64(2*i)) // even keys
		m.Add(base.SeqNum(i+1), base.KindSet, key[:], value)
		n++
	}
	for i := range n {
		binary.BigEndian.PutUint64(key[:], uint64(2*i))
		require.True(t, m.filter.mayContain(key[:]), "added key %d filtered out", 2*i)
	}
	falsePos := 0
	for i := range n {
		binary.BigEndian.PutUint64(key[:], uint64(2*i+1)) // odd keys: absent
		if m.filter.mayContain(key[:]) {
			falsePos++
		}
		_, _, ok := m.Get(key[:], base.SeqNumMax)
		require.False(t, ok)
	}
	return float64(falsePos) / float64(n), float64(len(m.filter.words)*64) / float64(n)
}

// Small memtables get no filter, and Get works the same without one.
func TestNoFilterWhenSmall(t *testing.T) {
	for _, capacity := range []int64{0, 1 << 10, 1 << 20} {
		m := New(base.DefaultComparer, capacity)
		require.Equal(t, capacity >= 1<<20, m.filter != nil, "capacity %d", capacity)
		m.Add(1, base.KindSet, []byte("a"), []byte("1"))
		v, _, ok := m.Get([]byte("a"), 1)
		require.True(t, ok)
		require.Equal(t, "1", string(v))
		_, _, ok = m.Get([]byte("b"), 1)
		require.False(t, ok)
	}
}

// A reader that sees a key's sequence number published after its Add finds
// it: the filter's bits are set before the entry enters the tree (run with
// -race).
func TestFilterConcurrentReaders(t *testing.T) {
	m := New(base.DefaultComparer, 1<<20)
	var published sync.Map // key -> struct{}, stored after Add returns
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				published.Range(func(k, _ any) bool {
					if _, _, ok := m.Get([]byte(k.(string)), base.SeqNumMax); !ok {
						t.Errorf("published key %q not found", k)
						return false
					}
					return true
				})
			}
		})
	}
	for i := range 3000 {
		k := fmt.Sprint("key", i)
		m.Add(base.SeqNum(i+1), base.KindSet, []byte(k), []byte("v"))
		published.Store(k, struct{}{})
	}
	close(stop)
	wg.Wait()
}
