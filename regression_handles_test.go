package dkv_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
)

// Regression test for issue 13, bug 3: Batch.Close put the Batch itself in
// a pool, so a stale second Close, after NewBatch had handed the batch out
// again, pooled a batch in use, and the next NewBatch gave the same object
// to a second caller — whose writes the first caller's Write then applied.
// Put after Close also succeeded silently.
func TestRegressionBatchClosedTwiceHasTwoOwners(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()

	first := db.NewBatch()
	require.NoError(t, first.Put([]byte("k"), []byte("first")))
	first.Close()
	second := db.NewBatch() // may reuse first's buffer, never first itself
	first.Close()           // stale: must do nothing
	third := db.NewBatch()
	require.NotSame(t, second, third, "two callers hold one batch")

	require.NoError(t, second.Put([]byte("a"), []byte("second")))
	require.NoError(t, third.Put([]byte("b"), []byte("third")))
	require.NoError(t, db.Write(third, dkv.Sync))
	require.Equal(t, map[string]string{"b": "third"}, dkv.DBContents(t, db), "third's write holds only its own op")
	require.Equal(t, 1, second.Len())

	// A closed batch refuses every use, and is empty.
	for name, err := range map[string]error{
		"Put":         first.Put([]byte("x"), []byte("y")),
		"Delete":      first.Delete([]byte("x")),
		"DeleteRange": first.DeleteRange([]byte("x"), []byte("y")),
		"Write":       db.Write(first, nil),
	} {
		require.ErrorIs(t, err, dkv.ErrClosed, name)
		require.Contains(t, err.Error(), "batch used after Close", name)
	}
	first.Reset()
	require.ErrorIs(t, db.Write(first, nil), dkv.ErrClosed, "Reset does not reopen a closed batch")
	require.Zero(t, first.Len())
	require.Equal(t, map[string]string{"b": "third"}, dkv.DBContents(t, db))
}

// Many goroutines making, closing (twice) and writing batches: no batch is
// ever shared, so every write holds exactly its own keys.
func TestBatchCloseConcurrent(t *testing.T) {
	db, _ := openMem(t, &dkv.Options{NoSync: true})
	defer db.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				b := db.NewBatch()
				k := fmt.Sprintf("g%d/%03d", g, i)
				if err := b.Put([]byte(k), []byte(k)); err != nil {
					t.Error(err)
					return
				}
				if b.Len() != 1 {
					t.Errorf("%s: a new batch holds %d ops", k, b.Len())
				}
				if err := db.Write(b, nil); err != nil {
					t.Error(err)
				}
				b.Close()
				b.Close()
			}
		})
	}
	wg.Wait()
	got := dkv.DBContents(t, db)
	require.Len(t, got, 8*200)
	for k, v := range got {
		require.Equal(t, k, v)
	}
}

// Regression test for issue 13, bug 4: Compact returned context.Canceled,
// not the documented ErrClosed, when Close raced it: Close cancels the
// compaction's context before it marks the DB closing, and a Compact that
// woke in between (here: one waiting for a background compaction holding
// the tables it needs) took the cancellation for its caller's.
func TestRegressionCompactRacingCloseReturnsErrClosed(t *testing.T) {
	for i := range 200 {
		began := make(chan struct{}, 1)
		events := &dkv.EventListener{CompactionBegin: func(ci dkv.CompactionInfo) {
			if ci.Kind != "manual" {
				select {
				case began <- struct{}{}:
				default:
				}
			}
		}}
		db, _ := openMem(t, &dkv.Options{NoSync: true, L0CompactionThreshold: 2, EventListener: events})
		for k := range 4 {
			require.NoError(t, db.Put(fmt.Appendf(nil, "k%03d", k), []byte("v")))
			require.NoError(t, db.Flush())
		}
		<-began // a background L0 compaction; Compact waits for it
		done := make(chan error, 1)
		go func() { done <- db.Compact(context.Background(), nil, nil) }()
		if i%2 == 0 {
			runtime.Gosched()
		}
		closeErr := db.Close()
		err := <-done
		require.NoError(t, closeErr)
		if err != nil && !errors.Is(err, dkv.ErrClosed) {
			t.Fatalf("round %d: Compact racing Close returned %v, want nil or ErrClosed", i, err)
		}
	}
}

// Close closes, whatever is left open (issue 13): it does not wait for an
// iterator or a snapshot, reports them with ErrLeaked, and from then on
// they fail with ErrClosed instead of serving a closed DB; closing them
// afterwards works and deletes nothing in the directory.
func TestCloseWithIteratorsAndSnapshotsOpen(t *testing.T) {
	db, fs := openMem(t, &dkv.Options{NoSync: true})
	for i := range 100 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%03d", i), []byte("v")))
	}
	require.NoError(t, db.Flush())
	before, err := db.NewIter(nil) // over the first table
	require.NoError(t, err)
	require.True(t, before.First())
	snap := db.NewSnapshot()
	require.NoError(t, db.Compact(context.Background(), nil, nil)) // the table becomes a zombie
	idle, err := db.NewIter(nil)
	require.NoError(t, err)

	err = db.Close()
	require.ErrorIs(t, err, dkv.ErrLeaked)
	require.Contains(t, err.Error(), "2 iterators and 1 snapshots")
	require.NotErrorIs(t, err, dkv.ErrStopped)

	for name, it := range map[string]*dkv.Iterator{"positioned": before, "idle": idle} {
		require.False(t, it.Next(), name)
		require.False(t, it.Valid(), name)
		require.ErrorIs(t, it.Error(), dkv.ErrClosed, name)
		require.False(t, it.SeekGE([]byte("k050")), name)
		require.ErrorIs(t, it.Close(), dkv.ErrClosed, name+": Close returns the error it met")
		require.NoError(t, it.Close(), name+": a second Close does nothing")
	}
	_, err = snap.Get([]byte("k001"))
	require.ErrorIs(t, err, dkv.ErrClosed)
	_, err = snap.NewIter(nil)
	require.ErrorIs(t, err, dkv.ErrClosed)
	require.NoError(t, snap.Close())

	// The replaced table is left for the next Open, which removes it.
	names, err := fs.List("/db")
	require.NoError(t, err)
	tables := 0
	for _, n := range names {
		if len(n) > 4 && n[len(n)-4:] == ".sst" {
			tables++
		}
	}
	require.Equal(t, 2, tables, "the zombie table stays after Close: %v", names)
	db, err = dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.Len(t, dkv.DBContents(t, db), 100)
	require.NoError(t, db.Close())
}

// A closed iterator and a closed snapshot say so: never an empty range.
func TestClosedIteratorAndSnapshotSayClosed(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	require.NoError(t, db.Put([]byte("a"), []byte("1")))
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	require.NoError(t, it.Close())
	require.False(t, it.First())
	require.ErrorIs(t, it.Error(), dkv.ErrClosed)
	require.EqualError(t, it.Error(), "dkv: iterator used after Close")
	require.NoError(t, it.Close())

	snap := db.NewSnapshot()
	require.NoError(t, snap.Close())
	_, err = snap.Get([]byte("a"))
	require.EqualError(t, err, "dkv: snapshot used after Close")
	require.ErrorIs(t, err, dkv.ErrClosed)
	require.NoError(t, snap.Close())
}
