package dkv_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// The contract of DB.Checkpoint: a directory that opens as the database at
// one moment — every write acknowledged before the call, a prefix of the
// history — independent of the DB afterwards, complete or absent after a
// crash, and nothing left behind by a failure.

const ckptWriters = 4

// ckptKey is write i (from 1) of writer w; ckptLast holds the number of
// writer w's latest write, written in the same batch.
func ckptKey(w, i int) string { return fmt.Sprintf("w%d/%06d", w, i) }
func ckptLast(w int) string   { return fmt.Sprintf("w%d/last", w) }

// ckptValue is the value of write i, with the number of writes each writer
// had acknowledged when it was issued: a prefix of the history holding
// this write holds those too.
func ckptValue(i int, seen []int64) string {
	parts := make([]string, len(seen))
	for u, n := range seen {
		parts[u] = strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%d seen %s", i, strings.Join(parts, ","))
}

// checkPrefix verifies that got, a checkpoint's contents, is a prefix of
// the concurrent writers' history holding every write acknowledged before
// the Checkpoint call (before) and none issued after it returned (after):
// each writer's writes 1..L with before <= L <= after+1 and none beyond,
// and, for every write present, the writes it saw acknowledged.
func checkPrefix(t *testing.T, got map[string]string, before, after []int64) {
	t.Helper()
	last := make([]int64, ckptWriters)
	for w := range ckptWriters {
		if v, ok := got[ckptLast(w)]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			last[w] = n
		}
		require.GreaterOrEqual(t, last[w], before[w], "writer %d: an acknowledged write is missing", w)
		require.LessOrEqual(t, last[w], after[w]+1, "writer %d: a write issued after Checkpoint returned is present", w)
	}
	n := ckptWriters
	for w := range ckptWriters {
		for i := 1; i <= int(last[w]); i++ {
			v, ok := got[ckptKey(w, i)]
			require.True(t, ok, "writer %d: write %d is missing below its last, %d", w, i, last[w])
			num, seen, ok := strings.Cut(v, " seen ")
			require.True(t, ok, v)
			require.Equal(t, strconv.Itoa(i), num)
			for u, s := range strings.Split(seen, ",") {
				acked, err := strconv.ParseInt(s, 10, 64)
				require.NoError(t, err)
				require.GreaterOrEqual(t, last[u], acked,
					"writer %d's write %d is present, but not writer %d's write %d acknowledged before it", w, i, u, acked)
			}
			n++
		}
	}
	require.Len(t, got, n, "keys beyond the writers' last writes")
}

// Contract: a checkpoint taken while writers run (and flushes and
// compactions with them) reopens, read-write and read-only, to a prefix of
// the history that holds every write acknowledged before the call; it is
// independent of the DB: writes, deletions, a full compaction and Close of
// the DB afterwards change nothing in it. On the OS's filesystem its tables
// are hard links to the DB's; on MemFS it also survives a power loss right
// after Checkpoint returns.
func TestCheckpointWhileWriting(t *testing.T) {
	run := func(t *testing.T, fsys vfs.FS, root string) {
		dir, dest := fsys.PathJoin(root, "db"), fsys.PathJoin(root, "ckpt")
		opts := &dkv.Options{FS: fsys, MemTableSize: 16 << 10, LBaseMaxBytes: 32 << 10, TargetFileSize: 8 << 10,
			L0CompactionThreshold: 2, NoSync: true, Logger: slog.New(slog.DiscardHandler)}
		db, err := dkv.Open(dir, opts)
		require.NoError(t, err)

		var acked [ckptWriters]atomic.Int64
		var stop atomic.Bool
		var wg sync.WaitGroup
		errs := make(chan error, ckptWriters)
		for w := range ckptWriters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; !stop.Load(); i++ {
					seen := make([]int64, ckptWriters)
					for u := range seen {
						seen[u] = acked[u].Load()
					}
					b := db.NewBatch()
					_ = b.Put([]byte(ckptKey(w, i)), []byte(ckptValue(i, seen)))
					_ = b.Put([]byte(ckptLast(w)), []byte(strconv.Itoa(i)))
					if err := db.Write(b, nil); err != nil {
						errs <- err
						return
					}
					acked[w].Store(int64(i))
				}
			}()
		}
		counts := func() []int64 {
			out := make([]int64, ckptWriters)
			for w := range out {
				out[w] = acked[w].Load()
			}
			return out
		}
		waitAll := func(min []int64, plus int64) {
			for deadline := time.Now().Add(time.Minute); ; {
				done := true
				for w, n := range counts() {
					done = done && n >= min[w]+plus
				}
				if done || len(errs) > 0 || time.Now().After(deadline) {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
		waitAll(make([]int64, ckptWriters), 300)
		before := counts()
		require.NoError(t, db.Checkpoint(context.Background(), dest))
		after := counts()
		var crashed *vfs.MemFS
		if mem, ok := fsys.(*vfs.MemFS); ok {
			crashed = mem.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(1, 2))})
		}
		if fsys == vfs.Default {
			linked := 0
			names, err := fsys.List(dest)
			require.NoError(t, err)
			for _, n := range names {
				ck, err := os.Stat(filepath.Join(dest, n))
				require.NoError(t, err)
				if src, err := os.Stat(filepath.Join(dir, n)); err == nil && strings.HasSuffix(n, ".sst") && os.SameFile(src, ck) {
					linked++
				}
			}
			require.Positive(t, linked, "no table of the checkpoint is a hard link to the DB's")
		}
		waitAll(after, 100) // the writers go on past the checkpoint
		stop.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Positive(t, db.Metrics().Compaction.Count, "the test wants compactions")

		// Change everything in the DB, then close it.
		require.NoError(t, db.Put([]byte("after-checkpoint"), []byte("x")))
		for i := 1; i <= int(acked[0].Load()); i++ {
			require.NoError(t, db.Delete([]byte(ckptKey(0, i))))
		}
		require.NoError(t, db.Compact(context.Background(), nil, nil))
		require.NoError(t, db.Close())

		for _, readOnly := range []bool{true, false} {
			ck, err := dkv.Open(dest, &dkv.Options{FS: fsys, ReadOnly: readOnly, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err, "read-only %v", readOnly)
			checkPrefix(t, dkv.DBContents(t, ck), before, after)
			if !readOnly {
				// New writes continue the checkpoint's sequence numbers.
				require.NoError(t, ck.Put([]byte(ckptLast(1)), []byte("new")))
				v, err := ck.Get([]byte(ckptLast(1)))
				require.NoError(t, err)
				require.Equal(t, "new", string(v))
			}
			require.NoError(t, ck.Close()) // checks the LSM's invariants with -tags invariants
		}
		if crashed != nil {
			ck, err := dkv.Open(dest, readOnlyOptions(crashed))
			require.NoError(t, err, "the checkpoint did not survive a power loss")
			checkPrefix(t, dkv.DBContents(t, ck), before, after)
			require.NoError(t, ck.Close())
		}
	}
	t.Run("mem", func(t *testing.T) { run(t, vfs.NewMem(), "/") })
	t.Run("os", func(t *testing.T) { run(t, vfs.Default, t.TempDir()) })
}

// fillTables writes n keys to db through small memtables and flushes, so
// that they lie in several tables; it returns what it wrote.
func fillTables(t *testing.T, db *dkv.DB, n int) map[string]string {
	t.Helper()
	want := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("key%05d", i), fmt.Sprintf("value %d, with some padding to fill tables", i)
		require.NoError(t, db.Put([]byte(k), []byte(v)))
		want[k] = v
	}
	require.NoError(t, db.Flush())
	require.Greater(t, db.Metrics().Levels[0].Files, 1)
	return want
}

// checkpointTestOptions make several tables from little data, and no
// compaction that would change them.
func checkpointTestOptions(fsys vfs.FS) *dkv.Options {
	return &dkv.Options{FS: fsys, MemTableSize: 16 << 10, L0CompactionThreshold: 100, NoSync: true,
		Logger: slog.New(slog.DiscardHandler)}
}

// requireOpensTo opens dir (read-write) and requires it to hold want.
func requireOpensTo(t *testing.T, fsys vfs.FS, dir string, want map[string]string) {
	t.Helper()
	db, err := dkv.Open(dir, &dkv.Options{FS: fsys, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.Equal(t, want, dkv.DBContents(t, db))
	require.NoError(t, db.Close())
}

// Contract: Checkpoint hard-links the tables, and copies each it cannot
// link; both checkpoints open to the same data.
func TestCheckpointCopiesWhenLinkFails(t *testing.T) {
	mem := vfs.NewMem()
	tog := vfs.NewToggle(vfs.ErrInjectedEIO, vfs.OpLink, vfs.FileAll)
	efs := vfs.NewErrorFS(mem, tog)
	db, err := dkv.Open("/db", checkpointTestOptions(efs))
	require.NoError(t, err)
	want := fillTables(t, db, 600)
	tables := int64(db.Metrics().Levels[0].Files)

	s0 := efs.Stats()
	require.NoError(t, db.Checkpoint(context.Background(), "/linked"))
	s1 := efs.Stats()
	require.Equal(t, tables, s1.Ops(vfs.OpLink, vfs.FileTable)-s0.Ops(vfs.OpLink, vfs.FileTable))
	require.Zero(t, s1.Ops(vfs.OpCreate, vfs.FileTable)-s0.Ops(vfs.OpCreate, vfs.FileTable), "a linked table was copied")

	tog.On()
	require.NoError(t, db.Checkpoint(context.Background(), "/copied"))
	tog.Off()
	s2 := efs.Stats()
	require.Equal(t, tables, s2.Injected(vfs.OpLink, vfs.FileTable))
	require.Equal(t, tables, s2.Ops(vfs.OpCreate, vfs.FileTable)-s1.Ops(vfs.OpCreate, vfs.FileTable), "a table was neither linked nor copied")
	require.NoError(t, db.Close())

	requireOpensTo(t, mem, "/linked", want)
	requireOpensTo(t, mem, "/copied", want)
}

// Contract: the checkpoint of an empty DB opens to an empty DB that takes
// writes.
func TestCheckpointOfEmptyDB(t *testing.T) {
	db, mem := openMem(t, nil)
	require.NoError(t, db.Checkpoint(context.Background(), "/ckpt"))
	require.NoError(t, db.Close())
	ck, err := dkv.Open("/ckpt", &dkv.Options{FS: mem, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.Empty(t, dkv.DBContents(t, ck))
	require.NoError(t, ck.Put([]byte("k"), []byte("v")))
	require.Equal(t, map[string]string{"k": "v"}, dkv.DBContents(t, ck))
	require.NoError(t, ck.Close())
}

// Contract: Checkpoint refuses a destination that exists (ErrInvalidArgument
// and fs.ErrExist), one whose parent is missing or not a directory, and an
// empty name, changing nothing — not even flushing the DB; on a closed DB it
// returns ErrClosed.
func TestCheckpointRefusesBadDestinations(t *testing.T) {
	mem := vfs.NewMem()
	db, err := dkv.Open("/db", checkpointTestOptions(mem))
	require.NoError(t, err)
	b := db.NewBatch()
	require.NoError(t, b.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Write(b, dkv.Sync)) // in the log file before the image below
	require.NoError(t, mem.MkdirAll("/exists", 0o755))
	writeFile(t, mem, "/exists/keep", []byte("mine"))
	writeFile(t, mem, "/file", []byte("also mine"))
	before := dirImage(t, mem, "/")

	for _, c := range []struct {
		dest string
		want []error
	}{
		{"/exists", []error{dkv.ErrInvalidArgument, fs.ErrExist}},
		{"/exists/", []error{dkv.ErrInvalidArgument, fs.ErrExist}},
		{"/file", []error{dkv.ErrInvalidArgument, fs.ErrExist}},
		{"/db", []error{dkv.ErrInvalidArgument, fs.ErrExist}},
		{"/missing/ckpt", []error{fs.ErrNotExist}},
		{"/file/ckpt", nil},
		{"", []error{dkv.ErrInvalidArgument}},
	} {
		err := db.Checkpoint(context.Background(), c.dest)
		require.Error(t, err, c.dest)
		for _, want := range c.want {
			require.ErrorIs(t, err, want, c.dest)
		}
		require.Equal(t, before, dirImage(t, mem, "/"), "%q changed something", c.dest)
	}
	require.Zero(t, db.Metrics().Flush.Count)
	require.NoError(t, db.Close())
	require.ErrorIs(t, db.Checkpoint(context.Background(), "/ckpt"), dkv.ErrClosed)
}

// Contract: a Checkpoint that fails — ctx canceled before it or between
// files, a failed write, sync or rename in the checkpoint — returns the
// error and leaves neither destDir nor its temporary directory, and the DB
// goes on: a later Checkpoint succeeds.
func TestCheckpointFailureLeavesNothing(t *testing.T) {
	mem := vfs.NewMem()
	var mu sync.Mutex
	var hook func(op vfs.Op, kind vfs.FileKind, path string) error
	setHook := func(h func(op vfs.Op, kind vfs.FileKind, path string) error) {
		mu.Lock()
		hook = h
		mu.Unlock()
	}
	efs := vfs.NewErrorFS(mem, vfs.InjectorFunc(func(op vfs.Op, kind vfs.FileKind, path string) error {
		mu.Lock()
		h := hook
		mu.Unlock()
		if h == nil || strings.HasPrefix(path, "/db") {
			return nil // the DB's own operations never fail here
		}
		return h(op, kind, path)
	}))
	db, err := dkv.Open("/db", checkpointTestOptions(efs))
	require.NoError(t, err)
	want := fillTables(t, db, 600)
	requireNothingLeft := func(what string) {
		t.Helper()
		names, err := mem.List("/")
		require.NoError(t, err)
		require.Equal(t, []string{"db"}, names, "%s left something", what)
	}

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, db.Checkpoint(canceled, "/ckpt"), context.Canceled)
	requireNothingLeft("a canceled ctx")

	ctx, cancel := context.WithCancel(context.Background())
	setHook(func(op vfs.Op, kind vfs.FileKind, path string) error {
		if op == vfs.OpLink {
			cancel() // the next file sees it
		}
		return nil
	})
	require.ErrorIs(t, db.Checkpoint(ctx, "/ckpt"), context.Canceled)
	requireNothingLeft("a ctx canceled between files")

	faults := []struct {
		name string
		op   vfs.Op
		kind vfs.FileKind
		path string // "" for any
	}{
		{"make the directory", vfs.OpCreate, vfs.FileDir, ""},
		{"copy a table that cannot be linked", vfs.OpLink | vfs.OpCreate, vfs.FileTable, ""},
		{"create the MANIFEST", vfs.OpCreate, vfs.FileManifest, ""},
		{"sync the MANIFEST", vfs.OpSync, vfs.FileManifest, ""},
		{"create LOCK", vfs.OpCreate, vfs.FileLock, ""},
		{"set CURRENT", vfs.OpRename, vfs.FileCurrent, ""},
		{"sync the directory", vfs.OpSync, vfs.FileDir, ""},
		{"rename into place", vfs.OpRename, vfs.FileDir, ""},
		{"sync the parent after the rename", vfs.OpSync, vfs.FileDir, "/"},
	}
	for _, f := range faults {
		setHook(func(op vfs.Op, kind vfs.FileKind, path string) error {
			if op&f.op != 0 && kind&f.kind != 0 && (f.path == "" || path == f.path) {
				return vfs.ErrInjectedEIO
			}
			return nil
		})
		err := db.Checkpoint(context.Background(), "/ckpt")
		require.ErrorIs(t, err, vfs.ErrInjected, f.name)
		requireNothingLeft(f.name)
	}
	setHook(nil)
	require.NoError(t, db.Checkpoint(context.Background(), "/ckpt"))
	require.NoError(t, db.Close())
	requireOpensTo(t, mem, "/ckpt", want)
}

// Contract: a power loss at any moment of a Checkpoint leaves destDir either
// absent or complete: it opens, read-only, to the DB's contents; after
// Checkpoint returns it is complete. The test counts the filesystem
// operations of one Checkpoint, then runs one Checkpoint per operation,
// cutting the power just before it twice: keeping exactly what was durable,
// and keeping, at random, unsynced directory entries and bytes too.
func TestCheckpointCrashAtEveryStep(t *testing.T) {
	mem := vfs.NewMem()
	var mu sync.Mutex
	var ops, crashAt int
	var crashes []*vfs.MemFS
	efs := vfs.NewErrorFS(mem, vfs.InjectorFunc(func(op vfs.Op, kind vfs.FileKind, path string) error {
		mu.Lock()
		defer mu.Unlock()
		ops++
		if ops == crashAt {
			crashes = []*vfs.MemFS{mem.CrashClone(vfs.CrashOptions{}),
				mem.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(uint64(crashAt), 9))})}
		}
		return nil
	}))
	db, err := dkv.Open("/db", checkpointTestOptions(efs))
	require.NoError(t, err)
	want := fillTables(t, db, 600)
	arm := func(at int) {
		mu.Lock()
		ops, crashAt, crashes = 0, at, nil
		mu.Unlock()
	}

	arm(0)
	require.NoError(t, db.Checkpoint(context.Background(), "/count"))
	total := ops
	absent, complete := 0, 0
	check := func(crashed *vfs.MemFS, dest, when string) {
		t.Helper()
		if _, err := crashed.Stat(dest); errors.Is(err, fs.ErrNotExist) {
			absent++
			return
		}
		complete++
		ck, err := dkv.Open(dest, readOnlyOptions(crashed))
		require.NoError(t, err, when)
		require.Equal(t, want, dkv.DBContents(t, ck), when)
		require.NoError(t, ck.Close())
	}
	for at := 1; at <= total; at++ {
		arm(at)
		dest := fmt.Sprintf("/ckpt%d", at)
		require.NoError(t, db.Checkpoint(context.Background(), dest))
		require.Equal(t, total, ops, "checkpoints do not repeat the same operations")
		require.Len(t, crashes, 2)
		for i, crashed := range crashes {
			check(crashed, dest, fmt.Sprintf("crash %d before operation %d of %d", i, at, total))
		}
		if at == total {
			before := complete
			check(mem.CrashClone(vfs.CrashOptions{}), dest, "crash after Checkpoint returned")
			require.Equal(t, before+1, complete, "the checkpoint is not durable when Checkpoint returns")
		}
	}
	require.NoError(t, db.Close())
	require.Positive(t, absent)
	require.Greater(t, complete, 1, "no crash during a Checkpoint left a complete one")
	t.Logf("%d operations: %d crashes left no checkpoint, %d a complete one", total, absent, complete)
}

// Contract: a read-only DB's checkpoint copies the logs Open replayed, so
// it holds exactly what the read-only DB reads — a crashed writer's
// unflushed writes included — and writes nothing to the DB's directory. It
// stays as it was when a writer later opens the source and continues its
// newest log.
func TestCheckpointOfReadOnlyDB(t *testing.T) {
	crashed := crashedWriter(t, 42)
	before := dirImage(t, crashed, "/db")
	ro, err := dkv.Open("/db", readOnlyOptions(crashed))
	require.NoError(t, err)
	want := dkv.DBContents(t, ro)
	require.NoError(t, ro.Checkpoint(context.Background(), "/ckpt"))
	require.NoError(t, ro.Close())
	require.Equal(t, before, dirImage(t, crashed, "/db"), "the read-only DB's checkpoint changed its directory")
	logs := 0
	for name := range dirImage(t, crashed, "/ckpt") {
		if strings.HasSuffix(name, ".log") {
			logs++
		}
	}
	require.Positive(t, logs, "no log was copied")
	ck, err := dkv.Open("/ckpt", readOnlyOptions(crashed))
	require.NoError(t, err)
	require.Equal(t, want, dkv.DBContents(t, ck))
	require.NoError(t, ck.Close())

	rw, err := dkv.Open("/db", &dkv.Options{FS: crashed, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, rw.Put([]byte("last"), []byte("changed")))
	require.NoError(t, rw.Close())
	requireOpensTo(t, crashed, "/ckpt", want)
}

// Contract: Close cancels a Checkpoint under way and waits for it: the
// Checkpoint returns nil (it finished first) or ErrClosed, leaving no
// directory behind.
func TestCheckpointCanceledByClose(t *testing.T) {
	mem := vfs.NewMem()
	var db *dkv.DB
	var once sync.Once
	closed := make(chan error, 1)
	efs := vfs.NewErrorFS(mem, vfs.InjectorFunc(func(op vfs.Op, kind vfs.FileKind, path string) error {
		if op == vfs.OpLink {
			once.Do(func() {
				go func() { closed <- db.Close() }()
				for {
					if _, err := db.Get([]byte("x")); errors.Is(err, dkv.ErrClosed) {
						break
					}
					time.Sleep(time.Millisecond)
				}
				time.Sleep(10 * time.Millisecond) // let Close's cancellation reach the Checkpoint
			})
		}
		return nil
	}))
	var err error
	db, err = dkv.Open("/db", checkpointTestOptions(efs))
	require.NoError(t, err)
	want := fillTables(t, db, 600)
	err = db.Checkpoint(context.Background(), "/ckpt")
	require.NoError(t, <-closed)
	if err != nil {
		require.ErrorIs(t, err, dkv.ErrClosed)
		names, lerr := mem.List("/")
		require.NoError(t, lerr)
		require.Equal(t, []string{"db"}, names)
		return
	}
	requireOpensTo(t, mem, "/ckpt", want)
}
