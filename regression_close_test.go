package dkv_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// reviewSlowFS makes every write to a table file created while slow is set
// take 300ms: a stand-in for a long compaction on a slow disk.
type reviewSlowFS struct {
	vfs.FS
	slow   atomic.Bool
	writes atomic.Int32
}

type reviewSlowFile struct {
	vfs.File
	fs *reviewSlowFS
}

func (f *reviewSlowFile) Write(p []byte) (int, error) {
	f.fs.writes.Add(1)
	time.Sleep(300 * time.Millisecond)
	return f.File.Write(p)
}

func (s *reviewSlowFS) Create(name string) (vfs.File, error) {
	f, err := s.FS.Create(name)
	if err != nil || !s.slow.Load() || !strings.HasSuffix(name, ".sst") {
		return f, err
	}
	return &reviewSlowFile{File: f, fs: s}, nil
}

// Regression test for a review finding: Close cancels background compactions (closeCh) but not a
// manual one: DB.Compact runs with the caller's context only, and Close
// waits for db.mu.compactions.running to reach 0. Close therefore blocks
// until a manual compaction of any size has finished.
func TestRegressionCloseWaitsForManualCompaction(t *testing.T) {
	fs := &reviewSlowFS{FS: vfs.NewMem()}
	db, err := dkv.Open("/db", &dkv.Options{FS: fs, NoSync: true, MemTableSize: 8 << 20,
		Levels: [dkv.NumLevels]dkv.LevelOptions{6: {Compression: dkv.NoCompression}},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	val := make([]byte, 200)
	for i := range 15000 { // ~3 MiB of incompressible values
		for j := range val {
			val[j] = byte(rng.Uint32())
		}
		if err := db.Put([]byte(fmt.Sprintf("key%06d", i)), val); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Compact(context.Background(), nil, nil); err != nil { // all in L6
		t.Fatal(err)
	}
	fs.slow.Store(true)
	done := make(chan error, 1)
	go func() { done <- db.Compact(context.Background(), nil, nil) }() // in-place L6 rewrite
	for fs.writes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	cerr := db.Close()
	took := time.Since(start)
	t.Logf("Close took %v (err %v); Compact returned %v", took, cerr, <-done)
	if took > time.Second {
		t.Errorf("Close waited %v for a manual compaction; background ones are canceled at once", took)
	}
}
