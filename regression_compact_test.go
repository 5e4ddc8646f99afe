package dkv_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// Regression test for a review finding: busy flags protect a compaction's input tables, not the
// key range its outputs will occupy. A manual compaction that rewrites the
// bottom level in place (or skips levels) produces outputs spanning the
// gaps between its input tables; another compaction may meanwhile put a
// table into such a gap at the same level. The first compaction's edit then
// makes two tables of one level overlap: logAndApply rejects it as "bad
// version edit (a bug)" and the DB stops all writes (ErrStopped).
//
// Two concurrent Compact calls on disjoint ranges are enough.
func TestRegressionConcurrentManualCompactionsStopWrites(t *testing.T) {
	var armed atomic.Bool
	started := make(chan struct{})
	release := make(chan struct{})
	events := &dkv.EventListener{
		CompactionBegin: func(ci dkv.CompactionInfo) {
			// Hold the first bottom-level in-place rewrite of two tables.
			if ci.Kind == "manual" && ci.StartLevel == 6 && len(ci.Inputs) == 2 && armed.CompareAndSwap(true, false) {
				close(started)
				<-release
			}
		},
	}
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem(), NoSync: true,
		Logger: slog.New(slog.DiscardHandler), EventListener: events})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	put := func(keys ...string) {
		for _, k := range keys {
			if err := db.Put([]byte(k), []byte("v-"+k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("a", "b", "c")
	if err := db.Compact(ctx, nil, nil); err != nil { // L6: [a..c]
		t.Fatal(err)
	}
	put("e", "f", "g")
	if err := db.Compact(ctx, []byte("e"), []byte("h")); err != nil { // L6: [a..c] [e..g]
		t.Fatal(err)
	}
	t.Logf("before:\n%s", db.Metrics())

	armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- db.Compact(ctx, []byte("a"), []byte("h")) }() // rewrites [a..c] [e..g] in place
	<-started

	put("d")
	// L1..L6 hold nothing overlapping "d": its L0 table would go straight
	// to L6, between [a..c] and [e..g], where the first Compact is writing.
	// It must wait for that one.
	second := make(chan error, 1)
	go func() { second <- db.Compact(ctx, []byte("d"), []byte("e")) }()
	select {
	case err := <-second:
		t.Fatalf("the second Compact ran beside a compaction writing the same range of L6: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	err1 := <-done
	if err := <-second; err != nil {
		t.Fatalf("second Compact: %v", err)
	}
	perr := db.Put([]byte("z"), []byte("z"))
	t.Logf("Compact(a, g) = %v\nPut afterwards = %v", err1, perr)
	if err1 != nil || perr != nil {
		t.Errorf("two Compact calls on disjoint ranges stopped the DB: Compact(a,g)=%v; Put=%v (ErrStopped: %v)",
			err1, perr, errors.Is(perr, dkv.ErrStopped))
	}
}
