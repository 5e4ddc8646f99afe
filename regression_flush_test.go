package dkv

// Regression tests for review findings about flush scheduling, write
// stalls and the table cache.

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
)

var errReviewInjected = errors.New("review: injected table failure")

// reviewTableFS blocks (block != nil) or fails (fail set) the creation of
// tables, and counts the table handles open through it.
type reviewTableFS struct {
	vfs.FS
	block   chan struct{}
	fail    atomic.Bool
	openSST atomic.Int64

	// blockOpen, when set, makes Open of that path wait for releaseOpen
	// after signalling openBlocked.
	mu          sync.Mutex
	blockOpen   string
	openBlocked chan struct{}
	releaseOpen chan struct{}
}

func (fs *reviewTableFS) Create(name string) (vfs.File, error) {
	if strings.HasSuffix(name, ".sst") {
		if fs.block != nil {
			<-fs.block
		}
		if fs.fail.Load() {
			return nil, errReviewInjected
		}
	}
	return fs.FS.Create(name)
}

func (fs *reviewTableFS) Open(name string) (vfs.File, error) {
	fs.mu.Lock()
	wait := name == fs.blockOpen
	fs.mu.Unlock()
	if wait {
		close(fs.openBlocked)
		<-fs.releaseOpen
	}
	f, err := fs.FS.Open(name)
	if err != nil || !strings.HasSuffix(name, ".sst") {
		return f, err
	}
	fs.openSST.Add(1)
	return &reviewCountedFile{File: f, n: &fs.openSST}, nil
}

type reviewCountedFile struct {
	vfs.File
	n    *atomic.Int64
	once sync.Once
}

func (f *reviewCountedFile) Close() error {
	f.once.Do(func() { f.n.Add(-1) })
	return f.File.Close()
}

// Finding: Flush() rotated the memtable without waiting for flush room. While flushes are slow or failing, every Flush() call on
// a non-empty memtable queues one more immutable memtable (each holding at
// least one 256 KiB arena chunk) and one more log, far beyond
// MemTableStopWritesThreshold, whose doc promises that memory stays bounded.
func TestRegressionFlushBypassesStallThreshold(t *testing.T) {
	fs := &reviewTableFS{FS: vfs.NewMem(), block: make(chan struct{})}
	db, err := Open("/db", &Options{FS: fs, MemTableSize: 4 << 10, MemTableStopWritesThreshold: 1,
		Logger: discardLogger()})
	require.NoError(t, err)

	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		require.NoError(t, db.Put([]byte(fmt.Sprint("k", i)), []byte("v")))
		wg.Go(func() { _ = db.Flush() }) // waits for a flush that cannot finish yet
		time.Sleep(5 * time.Millisecond) // let the Flush queue what it would
	}
	imm := db.Metrics().MemTable.Immutable
	close(fs.block) // let the flushes run
	wg.Wait()
	require.NoError(t, db.Close())
	require.LessOrEqual(t, imm, 1,
		"%d immutable memtables queued with MemTableStopWritesThreshold 1: Flush() bypassed the write stall", imm)
}

// Finding: a writer stalled in waitForFlushRoom holds db.commit, and
// Metrics() and Flush() both take db.commit first (metrics.go Metrics,
// flush.go Flush). While the stall lasts — for ever, if table writes keep
// failing (disk full) — Metrics() hangs, and Flush() hangs instead of
// returning the flush error as its doc promises.
func TestRegressionStalledWriterBlocksMetricsAndFlush(t *testing.T) {
	fs := &reviewTableFS{FS: vfs.NewMem()}
	fs.fail.Store(true)
	db, err := Open("/db", &Options{FS: fs, MemTableSize: 4 << 10, MemTableStopWritesThreshold: 1,
		NoSync: true, Logger: discardLogger()})
	require.NoError(t, err)

	writerDone := make(chan error, 1)
	go func() {
		val := make([]byte, 200)
		for i := 0; ; i++ {
			if err := db.Put([]byte(fmt.Sprint("k", i)), val); err != nil {
				writerDone <- err
				return
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for db.stats.stalls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	require.Positive(t, db.stats.stalls.Load(), "the writer stalls: table writes fail")
	time.Sleep(50 * time.Millisecond) // the writer is now waiting, holding db.commit

	metricsDone := make(chan struct{})
	go func() { db.Metrics(); close(metricsDone) }()
	flushDone := make(chan error, 1)
	go func() { flushDone <- db.Flush() }()

	var metricsHung, flushHung bool
	select {
	case <-metricsDone:
	case <-time.After(time.Second):
		metricsHung = true
	}
	select {
	case err := <-flushDone:
		require.ErrorIs(t, err, errReviewInjected, "Flush reports the flush failure")
	case <-time.After(3 * time.Second): // flush retries fail at ~0.1, 0.3, 0.7, 1.5 s
		flushHung = true
	}

	require.NoError(t, db.Close()) // unblocks everything: the writer gets ErrClosed
	<-writerDone
	<-metricsDone
	if flushHung {
		<-flushDone
	}
	if metricsHung {
		t.Errorf("Metrics() blocked behind a writer stalled on db.commit")
	}
	if flushHung {
		t.Errorf("Flush() blocked behind a stalled writer instead of reporting the flush error")
	}
}

// Finding: a Get that started before Close can reach the table cache after
// Close has emptied it (db.go Close → tableCache.close; read.go Get checks
// db.closed only on entry). tableCache.get then opens the table and caches
// it, and nothing ever closes that file: a descriptor leak per racing Get.
func TestRegressionGetRacingCloseLeaksTable(t *testing.T) {
	mem := vfs.NewMem()
	fs := &reviewTableFS{FS: mem}
	opts := &Options{FS: fs, Logger: discardLogger()}
	db, err := Open("/db", opts)
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("m"), []byte("old table")))
	require.NoError(t, db.Flush())
	require.NoError(t, db.Put([]byte("a"), []byte("new table")))
	require.NoError(t, db.Put([]byte("z"), []byte("new table")))
	require.NoError(t, db.Flush())
	require.NoError(t, db.Close())

	db, err = Open("/db", opts) // an empty table cache
	require.NoError(t, err)
	names, err := mem.List("/db")
	require.NoError(t, err)
	var tables []string
	for _, n := range names {
		if strings.HasSuffix(n, ".sst") {
			tables = append(tables, n)
		}
	}
	require.Len(t, tables, 2)
	// The newer table (higher number) holds "a" and "z": its range covers
	// "m", so Get("m") opens it first, then the older table.
	fs.mu.Lock()
	fs.blockOpen = "/db/" + tables[1]
	fs.openBlocked = make(chan struct{})
	fs.releaseOpen = make(chan struct{})
	fs.mu.Unlock()

	got := make(chan error, 1)
	go func() {
		_, err := db.Get([]byte("m"))
		got <- err
	}()
	<-fs.openBlocked
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	time.Sleep(20 * time.Millisecond) // Close has begun (it may itself wait for the table)
	close(fs.releaseOpen)
	require.NoError(t, <-closed)
	<-got
	require.Zero(t, fs.openSST.Load(), "table files left open after Close")
}

// Finding: recovery replayed every log into its own memtable and queued
// them all; while table writes kept failing, each session ended with one
// more full memtable, so the memory Open needed grew with every restart.
// Open now flushes the older logs' memtables before it returns, and fails
// with the flush error rather than holding them; once the fault is gone,
// everything is there.
func TestRegressionRecoveryMemoryGrowsPerRestart(t *testing.T) {
	fs := &reviewTableFS{FS: vfs.NewMem()}
	opts := &Options{FS: fs, MemTableSize: 4 << 10, MemTableStopWritesThreshold: 1, NoSync: true, Logger: discardLogger()}
	db, err := Open("/db", opts)
	require.NoError(t, err)
	fs.fail.Store(true)
	done := make(chan struct{})
	written := 0
	go func() {
		defer close(done)
		val := make([]byte, 200)
		for {
			if db.Put([]byte(fmt.Sprint("k", written)), val) != nil {
				return
			}
			written++
		}
	}()
	for db.stats.stalls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, db.Close())
	<-done

	_, err = Open("/db", opts)
	require.ErrorIs(t, err, errReviewInjected, "Open fails with the flush error instead of queueing memtables")
	fs.fail.Store(false)
	db, err = Open("/db", opts)
	require.NoError(t, err)
	require.Equal(t, 0, db.Metrics().MemTable.Immutable)
	for i := range written {
		_, err := db.Get([]byte(fmt.Sprint("k", i)))
		require.NoError(t, err, "k%d", i)
	}
	require.NoError(t, db.Close())
}
