package dkv_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// openOneL0 returns a database holding the even keys of [0, 2000) at the
// bottom level and the odd ones in one L0 table over the same range, and
// the kinds of the compactions that end after it returns.
func openOneL0(t *testing.T, bloomBits int) (*dkv.DB, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var kinds []string
	record := false
	events := &dkv.EventListener{CompactionEnd: func(ci dkv.CompactionInfo) {
		mu.Lock()
		if record {
			kinds = append(kinds, ci.Kind)
		}
		mu.Unlock()
	}}
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem(), NoSync: true, EventListener: events,
		BloomBitsPerKey: bloomBits, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	for i := 0; i < 2000; i += 2 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "key%05d", i), []byte("even")))
	}
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	for i := 1; i < 2000; i += 2 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "key%05d", i), []byte("odd")))
	}
	require.NoError(t, db.Flush())
	require.Equal(t, 1, db.Metrics().Levels[0].Files)
	mu.Lock()
	record = true
	mu.Unlock()
	return db, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), kinds...)
	}
}

func getEven(t *testing.T, db *dkv.DB, i int) {
	t.Helper()
	v, err := db.Get(fmt.Appendf(nil, "key%05d", 2*i))
	require.NoError(t, err)
	require.Equal(t, "even", string(v))
}

// An L0 table below the count threshold that point reads keep searching in
// vain is merged into L1 by a read-triggered compaction — after 100 wasted
// reads for a table this small, not before. Reads the table answers, and
// reads past its key range, charge it nothing.
func TestReadTriggeredCompaction(t *testing.T) {
	db, kinds := openOneL0(t, -1) // no bloom filters: every read of its range searches it
	l0 := func() int { return db.Metrics().Levels[0].Files }
	for i := range 500 {
		v, err := db.Get(fmt.Appendf(nil, "key%05d", 2*(i%1000)+1))
		require.NoError(t, err)
		require.Equal(t, "odd", string(v))
		_, err = db.Get(fmt.Appendf(nil, "zzz%05d", i))
		require.ErrorIs(t, err, dkv.ErrNotFound)
	}
	for i := range 99 {
		getEven(t, db, i+1) // inside the L0 table's range: searched in vain
	}
	time.Sleep(10 * time.Millisecond)
	require.Equal(t, 1, l0(), "compacted before 100 wasted reads")
	require.Empty(t, kinds())
	getEven(t, db, 500) // the 100th
	require.Eventually(t, func() bool { return l0() == 0 }, 10*time.Second, time.Millisecond)
	require.Equal(t, []string{"read"}, kinds())
	for i := range 2000 {
		want := map[bool]string{true: "even", false: "odd"}[i%2 == 0]
		v, err := db.Get(fmt.Appendf(nil, "key%05d", i))
		require.NoError(t, err)
		require.Equal(t, want, string(v))
	}
}

// A read the table's bloom filter rules out cost next to nothing: it is not
// charged, however many there are.
func TestReadCompactionIgnoresFilteredReads(t *testing.T) {
	db, kinds := openOneL0(t, 0) // the default: 10 bits per key
	for i := range 999 {
		getEven(t, db, i+1)
	}
	time.Sleep(20 * time.Millisecond)
	m := db.Metrics()
	require.Equal(t, 1, m.Levels[0].Files)
	require.Empty(t, kinds())
	// The filter ruled out nearly all of them; the few false positives
	// (about 1%) are below the budget of 100.
	require.Greater(t, m.Filter.Negatives, int64(900))
}

// Iterators charge L0 tables by sampling what they read: seeks alone, with
// no point read, merge an L0 table that keeps every seek merging one more
// source into L1.
func TestIteratorReadsTriggerCompaction(t *testing.T) {
	db, kinds := openOneL0(t, 0)
	l0 := func() int { return db.Metrics().Levels[0].Files }
	rng := rand.New(rand.NewPCG(9, 9))
	seeks := 0
	for l0() > 0 && seeks < 200_000 {
		it, err := db.NewIter(nil)
		require.NoError(t, err)
		require.True(t, it.SeekGE(fmt.Appendf(nil, "key%05d", rng.IntN(1999))))
		for range 3 {
			it.Next()
		}
		require.NoError(t, it.Close())
		seeks++
	}
	require.Eventually(t, func() bool { return l0() == 0 }, 10*time.Second, time.Millisecond)
	require.Equal(t, []string{"read"}, kinds())
	// 100 samples of 1 MiB of work at 4 KiB per seek: about 25,600 seeks.
	t.Logf("compacted after %d seeks", seeks)
	require.Greater(t, seeks, 10_000)
}
