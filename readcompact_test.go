package dkv_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// An L0 table below the count threshold that point reads keep searching in
// vain is merged into L1 by a read-triggered compaction; reads that find
// their key in it, or that it does not overlap, charge it nothing.
func TestReadTriggeredCompaction(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	events := &dkv.EventListener{CompactionEnd: func(ci dkv.CompactionInfo) {
		mu.Lock()
		kinds = append(kinds, ci.Kind)
		mu.Unlock()
	}}
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem(), NoSync: true, EventListener: events,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer db.Close()
	// Even keys in L1, then odd keys in one L0 table over the same range.
	for i := 0; i < 2000; i += 2 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "key%05d", i), []byte("even")))
	}
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	for i := 1; i < 2000; i += 2 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "key%05d", i), []byte("odd")))
	}
	require.NoError(t, db.Flush())
	l0 := func() int { return db.Metrics().Levels[0].Files }
	require.Equal(t, 1, l0())
	mu.Lock()
	kinds = nil
	mu.Unlock()

	// Reads the L0 table answers, and reads past its key range, waste nothing.
	for i := range 500 {
		v, err := db.Get(fmt.Appendf(nil, "key%05d", 2*(i%1000)+1))
		require.NoError(t, err)
		require.Equal(t, "odd", string(v))
		_, err = db.Get(fmt.Appendf(nil, "zzz%05d", i))
		require.ErrorIs(t, err, dkv.ErrNotFound)
	}
	time.Sleep(10 * time.Millisecond)
	require.Equal(t, 1, l0(), "reads that wasted nothing compacted L0")

	// Reads of even keys search the L0 table in vain, then the table below:
	// after
	// enough of them (100 for a table this small), L0 is compacted; not
	// before.
	for i := range 99 {
		_, err := db.Get(fmt.Appendf(nil, "key%05d", 2*(i+1)))
		require.NoError(t, err)
	}
	time.Sleep(10 * time.Millisecond)
	require.Equal(t, 1, l0(), "compacted before 100 wasted reads")
	v, err := db.Get([]byte("key01000")) // inside the L0 table's range: the 100th
	require.NoError(t, err)
	require.Equal(t, "even", string(v))
	require.Eventually(t, func() bool { return l0() == 0 }, 10*time.Second, time.Millisecond)
	mu.Lock()
	require.Equal(t, []string{"read"}, kinds)
	mu.Unlock()
	for i := range 2000 {
		want := map[bool]string{true: "even", false: "odd"}[i%2 == 0]
		v, err := db.Get(fmt.Appendf(nil, "key%05d", i))
		require.NoError(t, err)
		require.Equal(t, want, string(v))
	}
}
