package dkv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// smallTree returns options that make a multi-level tree from little data.
func smallTree(fs vfs.FS) *dkv.Options {
	return &dkv.Options{FS: fs, MemTableSize: 16 << 10, LBaseMaxBytes: 32 << 10, TargetFileSize: 8 << 10,
		L0CompactionThreshold: 2, NoSync: true, Logger: slog.New(slog.DiscardHandler)}
}

func tableBytes(t *testing.T, fs vfs.FS) int64 {
	t.Helper()
	var n int64
	for _, name := range listFiles(t, fs, ".sst") {
		st, err := fs.Stat("/db/" + name)
		require.NoError(t, err)
		n += st.Size()
	}
	return n
}

// Overwriting the same keys five times and compacting leaves no more than
// 1.2 times the stored size of the live data: compaction drops the
// versions no reader can see.
func TestCompactReclaimsSpace(t *testing.T) {
	write := func(fs vfs.FS, rounds int) {
		db, err := dkv.Open("/db", smallTree(fs))
		require.NoError(t, err)
		for r := range rounds {
			for i := range 2000 {
				v := fmt.Sprintf("round %d value %d %s", r, i, strings.Repeat("z", 40))
				if r == rounds-1 {
					v = fmt.Sprintf("final value %d %s", i, strings.Repeat("z", 40))
				}
				require.NoError(t, db.Put([]byte(fmt.Sprintf("key%05d", i)), []byte(v)))
			}
		}
		require.NoError(t, db.Compact(context.Background(), nil, nil))
		require.NoError(t, db.Close())
	}
	overwritten, once := vfs.NewMem(), vfs.NewMem()
	write(overwritten, 5)
	write(once, 1)
	got, live := tableBytes(t, overwritten), tableBytes(t, once)
	t.Logf("5 rounds: %d bytes of tables; the live data alone: %d bytes (%.2fx)", got, live, float64(got)/float64(live))
	require.LessOrEqual(t, float64(got), 1.2*float64(live))
}

// Deleted keys are reclaimed too: tombstones reach the bottom of the tree
// with what they delete, and both go.
func TestCompactDropsDeleted(t *testing.T) {
	fs := vfs.NewMem()
	db, err := dkv.Open("/db", smallTree(fs))
	require.NoError(t, err)
	for i := range 3000 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("key%05d", i)), []byte(strings.Repeat("v", 80))))
	}
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	full := tableBytes(t, fs)
	for i := range 3000 {
		require.NoError(t, db.Delete([]byte(fmt.Sprintf("key%05d", i))))
	}
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	require.Less(t, tableBytes(t, fs), full/20, "%s", db.Metrics())
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	require.False(t, it.First())
	require.NoError(t, it.Close())
	require.NoError(t, db.Close())
}

// An open iterator keeps reading the tables of its view while compactions
// replace them; the replaced tables are deleted once it closes.
func TestIteratorPinsTables(t *testing.T) {
	fs := vfs.NewMem()
	db, err := dkv.Open("/db", smallTree(fs))
	require.NoError(t, err)
	defer db.Close()
	for i := range 2000 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("key%05d", i)), []byte("old")))
	}
	require.NoError(t, db.Flush())
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	pinned := listFiles(t, fs, ".sst")

	for i := range 2000 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("key%05d", i)), []byte("new")))
	}
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	require.Equal(t, 1, db.Metrics().Iterators)

	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		require.Equal(t, "old", string(it.Value()), "the iterator's view is the one at NewIter")
		n++
	}
	require.NoError(t, it.Error())
	require.Equal(t, 2000, n)
	files := listFiles(t, fs, ".sst")
	for _, f := range pinned {
		require.Contains(t, files, f, "a table the iterator may read was deleted")
	}
	require.NoError(t, it.Close())
	require.Eventually(t, func() bool {
		files := listFiles(t, fs, ".sst")
		for _, f := range pinned {
			if slices_contains(files, f) {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "replaced tables are deleted once unpinned")
	require.Equal(t, 0, db.Metrics().Iterators)
}

func slices_contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// A snapshot sees the database as of its creation across overwrites,
// deletes, flushes and compactions; closing it lets compaction drop what
// only it could see.
func TestSnapshotAcrossCompactions(t *testing.T) {
	fs := vfs.NewMem()
	db, err := dkv.Open("/db", smallTree(fs))
	require.NoError(t, err)
	defer db.Close()
	for i := range 1000 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("key%05d", i)), []byte(fmt.Sprint("v1-", i))))
	}
	snap := db.NewSnapshot()
	require.Equal(t, 1, db.Metrics().Snapshots)
	for i := range 1000 {
		if i%2 == 0 {
			require.NoError(t, db.Delete([]byte(fmt.Sprintf("key%05d", i))))
		} else {
			require.NoError(t, db.Put([]byte(fmt.Sprintf("key%05d", i)), []byte(fmt.Sprint("v2-", i))))
		}
	}
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	withSnapshot := tableBytes(t, fs)
	for i := range 1000 {
		k := []byte(fmt.Sprintf("key%05d", i))
		v, err := snap.Get(k)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint("v1-", i), string(v))
		v, err = db.Get(k)
		if i%2 == 0 {
			require.ErrorIs(t, err, dkv.ErrNotFound)
		} else {
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint("v2-", i), string(v))
		}
	}
	it, err := snap.NewIter(&dkv.IterOptions{LowerBound: []byte("key00100"), UpperBound: []byte("key00200")})
	require.NoError(t, err)
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		require.Equal(t, fmt.Sprintf("key%05d", 100+n), string(it.Key()))
		n++
	}
	require.Equal(t, 100, n)
	require.NoError(t, it.Close())

	require.NoError(t, snap.Close())
	require.NoError(t, snap.Close(), "a second Close does nothing")
	_, err = snap.Get([]byte("key00001"))
	require.ErrorIs(t, err, dkv.ErrClosed)
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	require.Less(t, tableBytes(t, fs), withSnapshot*3/4, "without the snapshot, its versions go")
}

// Compact stops when its context is canceled, leaving no partial output.
func TestCompactCanceled(t *testing.T) {
	fs := vfs.NewMem()
	o := smallTree(fs)
	o.L0CompactionThreshold = 1000 // no background compactions: Compact does it all
	o.L0SlowdownThreshold, o.L0StopWritesThreshold = 1000, 1000
	db, err := dkv.Open("/db", o)
	require.NoError(t, err)
	defer db.Close()
	for i := range 5000 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("key%05d", i)), []byte(strings.Repeat("v", 100))))
	}
	require.NoError(t, db.Flush())
	before := listFiles(t, fs, ".sst")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = db.Compact(ctx, nil, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, before, listFiles(t, fs, ".sst"), "a canceled compaction leaves the tables as they were")
	_, err = db.Get([]byte("key00042"))
	require.NoError(t, err)
	require.ErrorIs(t, db.Compact(context.Background(), []byte("b"), []byte("a")), dkv.ErrInvalidArgument)
}

// Compact's range is half-open, [start, end), like DeleteRange's, the
// iterators' and the estimates' (issue 13): a table that starts at end is
// left alone, and an empty range compacts nothing.
func TestCompactRangeIsHalfOpen(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "m"} {
		require.NoError(t, db.Put([]byte(k), []byte("v")))
		require.NoError(t, db.Flush())
	}
	require.Equal(t, []int{0, 0}, levelOf(t, db))
	require.NoError(t, db.Compact(ctx, []byte("m"), []byte("m")))
	require.Equal(t, []int{0, 0}, levelOf(t, db), "an empty range")
	require.NoError(t, db.Compact(ctx, []byte("a"), []byte("m")))
	require.Equal(t, []int{0, dkv.NumLevels - 1}, levelOf(t, db), "[a, m) leaves the table of m in L0")
	require.NoError(t, db.Compact(ctx, []byte("m"), nil))
	require.Equal(t, []int{dkv.NumLevels - 1, dkv.NumLevels - 1}, levelOf(t, db))
}

// holdCompactions returns an event listener that holds the first
// compaction at its start until release is called (release is safe to call
// twice, and the test's cleanup calls it, so a failing test cannot hang
// Close).
func holdCompactions(t *testing.T) (*dkv.EventListener, func()) {
	ch := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	var began atomic.Int32
	return &dkv.EventListener{CompactionBegin: func(dkv.CompactionInfo) {
		if began.Add(1) == 1 {
			<-ch
		}
	}}, release
}

// When compaction cannot keep up, writes stop at L0StopWritesThreshold L0
// tables, and go on once compaction shrinks L0.
func TestL0StopsWrites(t *testing.T) {
	events, release := holdCompactions(t)
	fs := vfs.NewMem()
	o := &dkv.Options{FS: fs, MemTableSize: 4 << 10, L0CompactionThreshold: 2, L0SlowdownThreshold: 3,
		L0StopWritesThreshold: 4, NoSync: true, Logger: slog.New(slog.DiscardHandler), EventListener: events}
	db, err := dkv.Open("/db", o)
	require.NoError(t, err)
	defer db.Close()
	done := make(chan error, 1)
	go func() {
		for i := range 2000 {
			if err := db.Put([]byte(fmt.Sprintf("key%05d", i)), []byte(strings.Repeat("v", 100))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	require.Eventually(t, func() bool { return db.Metrics().WriteStall.L0Stops > 0 }, 10*time.Second, time.Millisecond)
	require.GreaterOrEqual(t, db.Metrics().Levels[0].Files, 4)
	select {
	case err := <-done:
		t.Fatalf("writes went on while L0 was full: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	require.NoError(t, <-done)
	// The last writes may have flushed L0 back up to the threshold; the
	// compactions, released, bring it down.
	require.Eventually(t, func() bool { return db.Metrics().Levels[0].Files < 4 }, 10*time.Second, time.Millisecond)
}

// Past L0SlowdownThreshold L0 tables, each write is delayed (and counted),
// but goes on.
func TestL0SlowsWrites(t *testing.T) {
	events, release := holdCompactions(t)
	o := &dkv.Options{FS: vfs.NewMem(), L0CompactionThreshold: 1, L0SlowdownThreshold: 1,
		L0StopWritesThreshold: 3, NoSync: true, Logger: slog.New(slog.DiscardHandler), EventListener: events}
	db, err := dkv.Open("/db", o)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Put([]byte("a"), []byte("v")))
	require.NoError(t, db.Flush()) // one L0 table; its compaction is held
	for i := range 5 {
		require.NoError(t, db.Put([]byte(fmt.Sprint("b", i)), []byte("v")))
	}
	require.Equal(t, int64(5), db.Metrics().WriteStall.L0Slowdowns)
	release()
}

// failCompactionTables fails creating tables while fail is set.
type failingTables struct {
	vfs.FS
	fail atomic.Bool
}

func (f *failingTables) Create(name string) (vfs.File, error) {
	if f.fail.Load() && strings.HasSuffix(name, ".sst") {
		return nil, errInjected
	}
	return f.FS.Create(name)
}

// A failed compaction is reported, counted and retried; it loses nothing,
// and once the fault is gone compaction catches up.
func TestCompactionErrorRetried(t *testing.T) {
	fs := &failingTables{FS: vfs.NewMem()}
	var bgErrors atomic.Int32
	o := smallTree(fs)
	o.EventListener = &dkv.EventListener{BackgroundError: func(error) { bgErrors.Add(1) }}
	db, err := dkv.Open("/db", o)
	require.NoError(t, err)
	defer db.Close()
	for i := range 600 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("key%05d", i)), []byte(strings.Repeat("v", 100))))
	}
	require.NoError(t, db.Flush())
	fs.fail.Store(true)
	err = db.Compact(context.Background(), nil, nil)
	require.ErrorIs(t, err, errInjected)
	for i := range 600 {
		_, err := db.Get([]byte(fmt.Sprintf("key%05d", i)))
		require.NoError(t, err)
	}
	fs.fail.Store(false)
	require.NoError(t, db.Compact(context.Background(), nil, nil))
	m := db.Metrics()
	require.Equal(t, 0, m.Levels[0].Files, "%s", m)
	if bgErrors.Load() > 0 {
		require.Positive(t, m.Compaction.Errors)
	}
}

func TestPrefixBounds(t *testing.T) {
	for _, c := range []struct{ prefix, lower, upper string }{
		{"abc", "abc", "abd"},
		{"ab\xff", "ab\xff", "ac"},
		{"\xff\xff", "\xff\xff", ""},
	} {
		lo, hi := dkv.PrefixBounds([]byte(c.prefix))
		require.Equal(t, c.lower, string(lo))
		require.Equal(t, c.upper, string(hi))
		if c.upper == "" {
			require.Nil(t, hi)
		}
	}
	db, _ := openMem(t, nil)
	defer db.Close()
	for _, k := range []string{"app", "apple", "apply", "apq", "ap", "b"} {
		require.NoError(t, db.Put([]byte(k), []byte("v")))
	}
	lo, hi := dkv.PrefixBounds([]byte("app"))
	it, err := db.NewIter(&dkv.IterOptions{LowerBound: lo, UpperBound: hi})
	require.NoError(t, err)
	var got []string
	for ok := it.Last(); ok; ok = it.Prev() {
		got = append(got, string(it.Key()))
	}
	require.Equal(t, []string{"apply", "apple", "app"}, got)
	require.NoError(t, it.Close())
	require.NoError(t, it.Close(), "a second Close does nothing")
	require.False(t, it.First(), "a closed iterator does not move")
	require.ErrorIs(t, it.Error(), dkv.ErrClosed, "and says why: not an empty range")
}

func TestIteratorBadInput(t *testing.T) {
	db, _ := openMem(t, nil)
	_, err := db.NewIter(&dkv.IterOptions{LowerBound: []byte("b"), UpperBound: []byte("a")})
	require.ErrorIs(t, err, dkv.ErrInvalidArgument)
	it, err := db.NewIter(&dkv.IterOptions{LowerBound: []byte("a"), UpperBound: []byte("a")})
	require.NoError(t, err)
	require.False(t, it.First(), "an empty range holds nothing")
	require.NoError(t, it.Close())
	require.NoError(t, db.Close())
	_, err = db.NewIter(nil)
	require.ErrorIs(t, err, dkv.ErrClosed)
	require.True(t, errors.Is(db.Compact(context.Background(), nil, nil), dkv.ErrClosed))
}

// TestWritesFailWhileL0FullAndCompactionFails: when every compaction fails
// (here: a disk that cannot read tables) and L0 fills up, a write does not
// wait for ever for a retry that may never succeed: it fails with
// ErrCompactionFailing, wrapping the compaction's error, having changed
// nothing — and writes go on once the disk is healthy again and a retried
// compaction succeeds.
func TestWritesFailWhileL0FullAndCompactionFails(t *testing.T) {
	var failing atomic.Bool
	inj := vfs.InjectorFunc(func(op vfs.Op, kind vfs.FileKind, path string) error {
		if failing.Load() && op == vfs.OpRead && kind == vfs.FileTable {
			return &vfs.InjectedError{Errno: syscall.EIO}
		}
		return nil
	})
	opts := &dkv.Options{FS: vfs.NewErrorFS(vfs.NewMem(), inj), NoSync: true, Logger: slog.New(slog.DiscardHandler),
		MemTableSize: 4 << 10, L0CompactionThreshold: 2, L0SlowdownThreshold: 2, L0StopWritesThreshold: 3}
	db, err := dkv.Open("/db", opts)
	require.NoError(t, err)
	defer db.Close()

	failing.Store(true)
	value := bytes.Repeat([]byte("v"), 200)
	// Keys of every table overlap, so that compactions must read them
	// rather than move them.
	key := func(i int) []byte { return []byte(fmt.Sprintf("key%06d", (i*7919)%10007)) }
	acked := 0
	for i := 0; ; i++ {
		err := db.Put(key(i), value)
		if err != nil {
			require.ErrorIs(t, err, dkv.ErrCompactionFailing)
			require.ErrorIs(t, err, syscall.EIO, "the compaction's error is wrapped")
			require.NotErrorIs(t, err, dkv.ErrStopped)
			break
		}
		acked++
		require.Less(t, i, 10000, "L0 never filled")
	}
	require.Positive(t, db.Metrics().Compaction.Errors)
	require.Less(t, acked, 10007)
	failing.Store(false) // reads of tables again
	_, err = db.Get(key(acked))
	require.ErrorIs(t, err, dkv.ErrNotFound, "the refused write left nothing")

	deadline := time.Now().Add(30 * time.Second)
	for {
		err := db.Put([]byte("after"), []byte("healed"))
		if err == nil {
			break
		}
		require.ErrorIs(t, err, dkv.ErrCompactionFailing)
		require.True(t, time.Now().Before(deadline), "writes never resumed")
		time.Sleep(10 * time.Millisecond)
	}
	for i := range acked {
		v, err := db.Get(key(i))
		require.NoError(t, err)
		require.Equal(t, value, v)
	}
}
