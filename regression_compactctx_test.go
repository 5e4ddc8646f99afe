package dkv_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// Regression test for a review finding: DB.Compact waits on db.mu.cond while a background
// compaction holds the tables it needs, and nothing wakes it when its
// context is canceled: it returns ctx's error only once that compaction
// ends. (The hook stands in for a long background compaction.)
func TestRegressionCompactIgnoresCancelWhileWaiting(t *testing.T) {
	var armed atomic.Bool
	armed.Store(true)
	started, release := make(chan struct{}), make(chan struct{})
	events := &dkv.EventListener{CompactionBegin: func(ci dkv.CompactionInfo) {
		if ci.Kind == "L0" && armed.CompareAndSwap(true, false) {
			close(started)
			<-release
		}
	}}
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem(), NoSync: true, L0CompactionThreshold: 2,
		Logger: slog.New(slog.DiscardHandler), EventListener: events})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, k := range []string{"a", "b"} {
		if err := db.Put([]byte(k), []byte(k)); err != nil {
			t.Fatal(err)
		}
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	<-started // the background L0 compaction runs (held)
	time.AfterFunc(2*time.Second, func() { close(release) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = db.Compact(ctx, nil, nil)
	took := time.Since(start)
	t.Logf("Compact returned %v after %v (ctx deadline 100ms)", err, took)
	if took > time.Second {
		t.Errorf("Compact ignored its canceled context for %v while waiting for busy tables", took)
	}
}
