package dkv_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/manual"
	"github.com/distributedkv/dkv/vfs"
)

// countingFS counts the files open through it, by file type, and the most
// open at once.
type countingFS struct {
	vfs.FS
	mu   sync.Mutex
	open map[string]int
	peak map[string]int
}

func newCountingFS(fs vfs.FS) *countingFS {
	return &countingFS{FS: fs, open: map[string]int{}, peak: map[string]int{}}
}

func fileKind(fs vfs.FS, name string) string {
	typ, _, ok := base.ParseFilename(fs.PathBase(name))
	if !ok {
		return "other"
	}
	return map[base.FileType]string{base.FileTypeLog: "log", base.FileTypeTable: "table",
		base.FileTypeManifest: "manifest", base.FileTypeCurrent: "current", base.FileTypeTemp: "temp",
		base.FileTypeLock: "lock"}[typ]
}

func (c *countingFS) track(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	kind := fileKind(c.FS, name)
	c.mu.Lock()
	c.open[kind]++
	c.peak[kind] = max(c.peak[kind], c.open[kind])
	c.mu.Unlock()
	return &countedFile{File: f, fs: c, kind: kind}, nil
}

func (c *countingFS) Create(name string) (vfs.File, error) {
	f, err := c.FS.Create(name)
	return c.track(name, f, err)
}

func (c *countingFS) Open(name string) (vfs.File, error) {
	f, err := c.FS.Open(name)
	return c.track(name, f, err)
}

func (c *countingFS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := c.FS.OpenReadWrite(name)
	return c.track(name, f, err)
}

func (c *countingFS) OpenDir(name string) (vfs.File, error) {
	f, err := c.FS.OpenDir(name)
	return c.track(name, f, err)
}

// resetPeaks makes the peaks the current counts.
func (c *countingFS) resetPeaks() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, n := range c.open {
		c.peak[k] = n
	}
}

func (c *countingFS) counts() (open, peak map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	open, peak = map[string]int{}, map[string]int{}
	for k, n := range c.open {
		if n != 0 {
			open[k] = n
		}
	}
	for k, n := range c.peak {
		peak[k] = n
	}
	return open, peak
}

type countedFile struct {
	vfs.File
	fs     *countingFS
	kind   string
	closed atomic.Bool
}

func (f *countedFile) Close() error {
	if !f.closed.Swap(true) {
		f.fs.mu.Lock()
		f.fs.open[f.kind]--
		f.fs.mu.Unlock()
	}
	return f.File.Close()
}

// TestOpenFilesBounded: with hundreds of tables and MaxOpenFiles 16, reads
// keep at most 16 tables open; while compactions run, the tables they pin
// add a few; after Close no file of any kind is left open.
func TestOpenFilesBounded(t *testing.T) {
	fs := newCountingFS(vfs.NewMem())
	opts := &dkv.Options{FS: fs, NoSync: true, Logger: slog.New(slog.DiscardHandler), MaxOpenFiles: 16,
		MemTableSize: 4 << 10, TargetFileSize: 1 << 10, LBaseMaxBytes: 4 << 10, CacheSize: 256 << 10}
	db, err := dkv.Open("/db", opts)
	require.NoError(t, err)
	const n = 4000
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range n {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("key%05d", rng.IntN(n))), []byte(fmt.Sprintf("value-%d-%0100d", i, i))))
	}
	require.NoError(t, db.Flush())
	_, writing := fs.counts()
	tables := 0
	for _, l := range db.Metrics().Levels {
		tables += int(l.Files)
	}
	require.Greater(t, tables, 100, "the test needs many more tables than MaxOpenFiles")

	// Reads only: every table is read, at most MaxOpenFiles are open.
	require.NoError(t, db.Compact(t.Context(), nil, nil)) // and wait for background work to settle
	for db.Metrics().Compaction.Running > 0 {
		time.Sleep(time.Millisecond)
	}
	fs.resetPeaks()
	for i := range n {
		_, err := db.Get([]byte(fmt.Sprintf("key%05d", i)))
		if err != nil {
			require.ErrorIs(t, err, dkv.ErrNotFound)
		}
	}
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	for ok := it.First(); ok; ok = it.Next() {
	}
	require.NoError(t, it.Close())
	_, reading := fs.counts()
	t.Logf("%d tables; most open at once: %d while writing and compacting, %d while reading", tables, writing["table"], reading["table"])
	require.LessOrEqual(t, reading["table"], opts.MaxOpenFiles, "tables open while reading")
	// Compactions pin their inputs (up to L0StopWritesThreshold L0 tables
	// plus one per level iterator) and write one output.
	require.LessOrEqual(t, writing["table"], opts.MaxOpenFiles+dkv.DefaultL0StopWritesThreshold+4, "tables open while compacting")
	for kind, peak := range writing {
		if kind != "table" {
			require.LessOrEqual(t, peak, 3, "%s files open at once", kind)
		}
	}

	require.NoError(t, db.Close())
	open, _ := fs.counts()
	require.Empty(t, open, "files left open after Close")
}

// TestMemoryBoundedUnderWriteBurst: writers that outrun flushing and
// compaction are stalled instead of letting memtables pile up: the heap
// stays bounded by the memtable budget, not by the data written, and the
// stalls are counted.
func TestMemoryBoundedUnderWriteBurst(t *testing.T) {
	const (
		writers = 4
		value   = 1 << 10
	)
	total := 40 << 20 // bytes written: 160 memtables' worth
	if testing.Short() {
		total = 16 << 20
	}
	if s := os.Getenv("DKV_BURST_MIB"); s != "" {
		mib, err := strconv.Atoi(s)
		require.NoError(t, err, "DKV_BURST_MIB")
		total = mib << 20
	}
	opts := &dkv.Options{NoSync: true, Logger: slog.New(slog.DiscardHandler), MemTableSize: 256 << 10,
		MemTableStopWritesThreshold: 2, CacheSize: 1 << 20}
	db, err := dkv.Open(t.TempDir(), opts)
	require.NoError(t, err)

	// The live heap as of each garbage collection: what the engine holds,
	// not the garbage the collector has yet to reclaim.
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			v := make([]byte, value)
			for i := range total / value / writers {
				v[0], v[1] = byte(i), byte(i>>8)
				if err := db.Put([]byte(fmt.Sprintf("w%d-%08d", g, i)), v); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	m := db.Metrics()
	require.NoError(t, db.Close())
	t.Logf("wrote %d MiB; peak live heap %.1f MiB; memtable stalls %d (%v), L0 stops %d, slowdowns %d",
		total>>20, float64(peak.Load())/(1<<20), m.WriteStall.Count, m.WriteStall.Duration.Round(time.Millisecond),
		m.WriteStall.L0Stops, m.WriteStall.L0Slowdowns)
	// Memtables: one mutable and two full ones of 256 KiB; the block
	// cache; buffers of logs, tables and compactions; the test binary.
	require.Less(t, peak.Load(), uint64(16<<20), "the live heap grew with the data written")
	require.Positive(t, m.WriteStall.Count+m.WriteStall.L0Stops+m.WriteStall.L0Slowdowns, "the writers never outran the engine: the bound was not tested")
}

// The memtables' arenas and the cached blocks live outside the Go heap
// (internal/manual), so the garbage collector does not free them: Close
// must. After a workload of writes, flushes, compactions, reads through
// the block cache, iterators and a snapshot, Close (with an iterator still
// open, closed afterwards) gives back every byte the DB took.
func TestManualMemoryReturnedAtClose(t *testing.T) {
	before := manual.ReadStats().InUse
	db, err := dkv.Open(t.TempDir(), &dkv.Options{NoSync: true, MemTableSize: 256 << 10,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	val := bytes.Repeat([]byte("v"), 200)
	for i := range 5000 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%05d", i*7919%5000), val))
	}
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	for i := range 2000 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%05d", i), val))
	}
	require.Greater(t, manual.ReadStats().InUse, before, "the memtable's arena is manual")
	for i := range 5000 {
		_, err := db.Get(fmt.Appendf(nil, "k%05d", i))
		require.NoError(t, err)
	}
	snap := db.NewSnapshot()
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	require.Equal(t, 5000, n)
	left, err := db.NewIter(nil) // left open across Close
	require.NoError(t, err)
	require.True(t, left.SeekGE([]byte("k02500")))
	require.NoError(t, it.Close())
	require.NoError(t, snap.Close())
	require.ErrorIs(t, db.Close(), dkv.ErrLeaked)
	require.Greater(t, manual.ReadStats().InUse, before, "the open iterator holds its memtable and block")
	require.NoError(t, left.Close())
	require.Equal(t, before, manual.ReadStats().InUse, "every manual byte given back")
}
