package manual

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Buffers of every size class and large ones are usable to their length,
// do not overlap while both are held, and come back for reuse; the
// counters follow.
func TestNewFree(t *testing.T) {
	before := ReadStats()
	sizes := []int{1, 100, 1024, 1025, 4096, 5000, 64 << 10, MaxSmall, MaxSmall + 1, 3 << 20}
	var held [][]byte
	for i, n := range sizes {
		b := New(n)
		require.Len(t, b, n)
		for j := range b {
			b[j] = byte(i)
		}
		held = append(held, b)
	}
	for i, b := range held {
		for j := range b {
			require.Equal(t, byte(i), b[j], "buffer %d overwritten at %d", i, j)
		}
	}
	if supported {
		require.Greater(t, ReadStats().InUse, before.InUse)
	}
	for _, b := range held {
		Free(b)
	}
	require.Equal(t, before.InUse, ReadStats().InUse, "everything given back")
	if supported {
		// A freed small buffer is the next of its class.
		a := New(4096)
		Free(a)
		b := New(3600)
		require.Equal(t, &a[:1][0], &b[:1][0], "reused")
		Free(b[:10]) // a reslice from the start
	}
}

// A Go heap fallback (odd capacity) is left to the collector.
func TestFreeHeapFallback(t *testing.T) {
	before := ReadStats()
	b := heap(5000)
	require.Equal(t, 1, cap(b)%2)
	Free(b)
	Free(nil)
	require.Equal(t, before, ReadStats())
}

func TestClassOf(t *testing.T) {
	for n, want := range map[int]int{1: 0, 512: 0, 513: 1, 4096: 7, 4097: 8, MaxSmall: numClasses - 1} {
		require.Equal(t, want, classOf(n), "n=%d", n)
		require.GreaterOrEqual(t, classSize(classOf(n)), n)
	}
}

// Many goroutines allocating and freeing (run with -race): no buffer is
// handed to two of them at once.
func TestConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				n := 1 + (i*7919+g*104729)%(20<<10)
				b := New(n)
				for j := range b {
					b[j] = byte(g)
				}
				for j := range b {
					if b[j] != byte(g) {
						t.Errorf("goroutine %d: byte %d of a %d-byte buffer changed under it", g, j, n)
						return
					}
				}
				Free(b)
			}
		})
	}
	wg.Wait()
}
