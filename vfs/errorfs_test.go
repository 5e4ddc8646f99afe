package vfs_test

// ErrorFS: classification of operations and files, the injectors, what a
// failed operation leaves behind, and concurrent use.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
)

// errorFSEvent is one call of an Injector.
type errorFSEvent struct {
	op   vfs.Op
	kind vfs.FileKind
	path string
}

// errorFSRecorder records every operation an ErrorFS asks about, and fails
// none.
type errorFSRecorder struct {
	mu     sync.Mutex
	events []errorFSEvent
}

func (r *errorFSRecorder) MaybeError(op vfs.Op, kind vfs.FileKind, path string) error {
	r.mu.Lock()
	r.events = append(r.events, errorFSEvent{op, kind, path})
	r.mu.Unlock()
	return nil
}

// take returns the events since the last take.
func (r *errorFSRecorder) take() []errorFSEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// Contract: FileKindOf classifies base names as the engine names its files;
// only canonical numbers count, and anything else is FileOther.
func TestErrorFSFileKindOf(t *testing.T) {
	for name, want := range map[string]vfs.FileKind{
		"000001.log":        vfs.FileLog,
		"123456789.log":     vfs.FileLog,
		"000007.sst":        vfs.FileTable,
		"000009.tmp":        vfs.FileTemp,
		"MANIFEST-000003":   vfs.FileManifest,
		"CURRENT":           vfs.FileCurrent,
		"LOCK":              vfs.FileLock,
		"1.log":             vfs.FileOther, // too short
		"0000001.log":       vfs.FileOther, // not canonical
		"00000a.log":        vfs.FileOther,
		"000001.txt":        vfs.FileOther,
		"000001.log.bak":    vfs.FileOther,
		"000001.":           vfs.FileOther,
		"MANIFEST-":         vfs.FileOther,
		"MANIFEST-000001.x": vfs.FileOther,
		"MANIFEST":          vfs.FileOther,
		"current":           vfs.FileOther,
		"db":                vfs.FileOther,
		"":                  vfs.FileOther,
	} {
		require.Equal(t, want, vfs.FileKindOf(name), "%q", name)
	}
}

// Contract: every FS and File method is asked about with its Op, the kind
// of the file it touches (directories told apart by asking the wrapped FS)
// and its path; Rename is classified by the name it makes. Seek and Close
// are never asked about.
func TestErrorFSClassifiesOperations(t *testing.T) {
	mem := vfs.NewMem()
	rec := &errorFSRecorder{}
	efs := vfs.NewErrorFS(mem, rec)
	type ev = errorFSEvent
	step := func(want []ev, do func()) {
		t.Helper()
		do()
		require.Equal(t, want, rec.take())
	}
	step([]ev{{vfs.OpCreate, vfs.FileDir, "/db"}}, func() { require.NoError(t, efs.MkdirAll("/db", 0o755)) })
	var f vfs.File
	step([]ev{{vfs.OpCreate, vfs.FileLog, "/db/000001.log"}}, func() {
		var err error
		f, err = efs.Create("/db/000001.log")
		require.NoError(t, err)
	})
	step([]ev{
		{vfs.OpWrite, vfs.FileLog, "/db/000001.log"},
		{vfs.OpSync, vfs.FileLog, "/db/000001.log"},
		{vfs.OpRead, vfs.FileLog, "/db/000001.log"},
		{vfs.OpRead, vfs.FileLog, "/db/000001.log"},
		{vfs.OpStat, vfs.FileLog, "/db/000001.log"},
		{vfs.OpTruncate, vfs.FileLog, "/db/000001.log"},
	}, func() {
		_, err := f.Write([]byte("hello"))
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		_, err = f.Seek(0, io.SeekStart)
		require.NoError(t, err)
		_, err = f.Read(make([]byte, 2))
		require.NoError(t, err)
		_, err = f.ReadAt(make([]byte, 2), 1)
		require.NoError(t, err)
		_, err = f.Stat()
		require.NoError(t, err)
		require.NoError(t, f.Truncate(3))
		require.NoError(t, f.Close())
	})
	step([]ev{
		{vfs.OpOpen, vfs.FileDir, "/db"},
		{vfs.OpSync, vfs.FileDir, "/db"},
	}, func() { require.NoError(t, vfs.SyncDir(efs, "/db")) })
	step([]ev{
		{vfs.OpCreate, vfs.FileTemp, "/db/000002.tmp"},
		{vfs.OpRename, vfs.FileCurrent, "/db/CURRENT"},
		{vfs.OpOpen, vfs.FileCurrent, "/db/CURRENT"},
		{vfs.OpOpen, vfs.FileTable, "/db/000003.sst"},
		{vfs.OpOpen, vfs.FileManifest, "/db/MANIFEST-000004"},
		{vfs.OpOpen, vfs.FileOther, "/db/notes.txt"},
	}, func() {
		tmp, err := efs.Create("/db/000002.tmp")
		require.NoError(t, err)
		require.NoError(t, tmp.Close())
		require.NoError(t, efs.Rename("/db/000002.tmp", "/db/CURRENT"))
		c, err := efs.Open("/db/CURRENT")
		require.NoError(t, err)
		require.NoError(t, c.Close())
		_, err = efs.Open("/db/000003.sst")
		require.ErrorIs(t, err, fs.ErrNotExist, "the wrapped FS's own errors pass through")
		_, err = efs.OpenReadWrite("/db/MANIFEST-000004")
		require.ErrorIs(t, err, fs.ErrNotExist)
		_, err = efs.Open("/db/notes.txt")
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
	step([]ev{
		{vfs.OpList, vfs.FileDir, "/db"},
		{vfs.OpStat, vfs.FileDir, "/db"},
		{vfs.OpStat, vfs.FileCurrent, "/db/CURRENT"},
		{vfs.OpLock, vfs.FileLock, "/db/LOCK"},
		{vfs.OpRemove, vfs.FileCurrent, "/db/CURRENT"},
		{vfs.OpRemove, vfs.FileLog, "/db/000001.log"},
	}, func() {
		_, err := efs.List("/db")
		require.NoError(t, err)
		_, err = efs.Stat("/db")
		require.NoError(t, err)
		_, err = efs.Stat("/db/CURRENT")
		require.NoError(t, err)
		l, err := efs.Lock("/db/LOCK")
		require.NoError(t, err)
		require.NoError(t, l.Close())
		require.NoError(t, efs.Remove("/db/CURRENT"))
		require.NoError(t, efs.Remove("/db/000001.log"))
	})
	writeFile(t, mem, "/db/000005.sst", "table") // not through efs: no event
	step([]ev{
		{vfs.OpLock, vfs.FileLock, "/db/LOCK"},
		{vfs.OpLink, vfs.FileTable, "/db/000009.sst"},
		{vfs.OpLink, vfs.FileTable, "/backup"},
	}, func() {
		l, err := efs.LockShared("/db/LOCK")
		require.NoError(t, err)
		require.NoError(t, l.Close())
		require.NoError(t, efs.Link("/db/000005.sst", "/db/000009.sst"))
		require.NoError(t, efs.Link("/db/000005.sst", "/backup"), "a link is classified by its new name, else its old one")
	})
	require.Equal(t, "/db/x", efs.PathJoin("/db", "x"))
	require.Equal(t, "x", efs.PathBase("/db/x"))
	require.Equal(t, "/db", efs.PathDir("/db/x"))
	require.Empty(t, rec.take(), "path helpers are not operations")
	require.Same(t, mem, efs.Unwrap())
}

// Contract: the injected errors match ErrInjected, their own sentinel and
// their errno, so a test (and the engine) can tell a full disk from an I/O
// error; ErrorFS returns them as a *fs.PathError naming the path.
func TestErrorFSErrorsMatch(t *testing.T) {
	require.ErrorIs(t, vfs.ErrInjectedEIO, syscall.EIO)
	require.ErrorIs(t, vfs.ErrInjectedEIO, vfs.ErrInjected)
	require.NotErrorIs(t, vfs.ErrInjectedEIO, syscall.ENOSPC)
	require.ErrorIs(t, vfs.ErrInjectedENOSPC, syscall.ENOSPC)
	require.ErrorIs(t, vfs.ErrInjectedENOSPC, vfs.ErrInjected)
	require.NotErrorIs(t, vfs.ErrInjectedENOSPC, vfs.ErrInjectedEIO)
	require.NotErrorIs(t, syscall.EIO, vfs.ErrInjected, "a real EIO is not an injected one")

	efs := vfs.NewErrorFS(vfs.NewMem(), vfs.OnNth(vfs.OpCreate, vfs.FileAll, 1, vfs.ErrInjectedENOSPC))
	_, err := efs.Create("/a.sst")
	wrapped := fmt.Errorf("dkv: create table: %w", err)
	require.ErrorIs(t, wrapped, syscall.ENOSPC)
	require.ErrorIs(t, wrapped, vfs.ErrInjectedENOSPC)
	var pe *fs.PathError
	require.ErrorAs(t, wrapped, &pe)
	require.Equal(t, "/a.sst", pe.Path)
	require.Equal(t, "create", pe.Op)
	require.Contains(t, err.Error(), "no space left on device")
}

// Contract: OnNth fails exactly the n-th matching operation and never
// another; Sticky fails every one from the n-th on. Operations outside the
// filter are neither failed nor counted.
func TestErrorFSOnNth(t *testing.T) {
	for _, sticky := range []bool{false, true} {
		t.Run(fmt.Sprint("sticky=", sticky), func(t *testing.T) {
			inj := vfs.OnNth(vfs.OpWrite|vfs.OpSync, vfs.FileLog, 3, vfs.ErrInjectedEIO)
			if sticky {
				inj = inj.Sticky()
			}
			var failed []int
			for i := 1; i <= 6; i++ {
				require.NoError(t, inj.MaybeError(vfs.OpWrite, vfs.FileTable, "/t.sst"), "another kind of file")
				require.NoError(t, inj.MaybeError(vfs.OpRead, vfs.FileLog, "/l.log"), "another op")
				op := vfs.OpWrite
				if i%2 == 0 {
					op = vfs.OpSync
				}
				if err := inj.MaybeError(op, vfs.FileLog, "/l.log"); err != nil {
					require.Same(t, vfs.ErrInjectedEIO, err)
					failed = append(failed, i)
				}
			}
			want := []int{3}
			if sticky {
				want = []int{3, 4, 5, 6}
			}
			require.Equal(t, want, failed)
			require.Equal(t, int64(6), inj.Matched())
			require.Equal(t, int64(len(want)), inj.Injected())
		})
	}
	require.Panics(t, func() { vfs.OnNth(vfs.OpAll, vfs.FileAll, 0, vfs.ErrInjectedEIO) })
}

// randomDecisions asks inj about n writes to each of paths, interleaved in
// the order given, and returns which failed, per path.
func randomDecisions(inj vfs.Injector, paths []string, n int) map[string][]bool {
	out := map[string][]bool{}
	for range n {
		for _, p := range paths {
			out[p] = append(out[p], inj.MaybeError(vfs.OpWrite, vfs.FileTable, p) != nil)
		}
	}
	return out
}

// Contract: Random is reproducible from its seed — the same operations on
// the same paths fail, in whatever order paths are interleaved — different
// seeds fail different operations, and the failure rate is prob.
func TestErrorFSRandomReproducible(t *testing.T) {
	paths := []string{"/db/000001.sst", "/db/000002.sst", "/db/000003.sst"}
	reversed := slices.Clone(paths)
	slices.Reverse(reversed)
	newInj := func(seed uint64) *vfs.RandomInjector {
		return vfs.Random(seed, 0.3, vfs.ErrInjectedEIO, vfs.OpWrite, vfs.FileTable)
	}
	a := randomDecisions(newInj(7), paths, 200)
	b := randomDecisions(newInj(7), reversed, 200)
	require.Equal(t, a, b, "same seed: same faults, whatever the interleaving")
	c := randomDecisions(newInj(8), paths, 200)
	require.NotEqual(t, a, c, "another seed: other faults")

	inj := newInj(1)
	const n = 20000
	failed := 0
	for i := range n {
		if inj.MaybeError(vfs.OpWrite, vfs.FileTable, fmt.Sprintf("/db/%06d.sst", i%50)) != nil {
			failed++
		}
		require.NoError(t, inj.MaybeError(vfs.OpSync, vfs.FileTable, "/db/000001.sst"), "filtered out")
		require.NoError(t, inj.MaybeError(vfs.OpWrite, vfs.FileLog, "/db/000001.log"), "filtered out")
	}
	require.InDelta(t, 0.3, float64(failed)/n, 0.02)
	require.Equal(t, int64(failed), inj.Injected())

	for _, prob := range []float64{0, -1, math.NaN()} {
		never := vfs.Random(1, prob, vfs.ErrInjectedEIO, vfs.OpAll, vfs.FileAll)
		for i := range 1000 {
			require.NoError(t, never.MaybeError(vfs.OpWrite, vfs.FileLog, fmt.Sprint(i)), "prob %v", prob)
		}
	}
	always := vfs.Random(1, 1, vfs.ErrInjectedEIO, vfs.OpAll, vfs.FileAll)
	for i := range 1000 {
		require.Error(t, always.MaybeError(vfs.OpWrite, vfs.FileLog, fmt.Sprint(i)))
	}
}

// Contract: a Toggle fails matching operations exactly while it is on; once
// off, the fault is gone and the file works as before.
func TestErrorFSToggle(t *testing.T) {
	mem := vfs.NewMem()
	tog := vfs.NewToggle(vfs.ErrInjectedEIO, vfs.OpSync, vfs.FileLog)
	efs := vfs.NewErrorFS(mem, tog)
	f, err := efs.Create("/000001.log")
	require.NoError(t, err)
	require.False(t, tog.Enabled(), "a Toggle starts off")
	require.NoError(t, f.Sync())
	tog.On()
	require.True(t, tog.Enabled())
	_, err = f.Write([]byte("abc"))
	require.NoError(t, err, "writes are not in the filter")
	require.ErrorIs(t, f.Sync(), syscall.EIO)
	require.ErrorIs(t, f.Sync(), syscall.EIO)
	require.NoError(t, vfs.SyncDir(efs, "/"), "directories are not in the filter")
	require.Empty(t, readFile(t, mem.CrashClone(vfs.CrashOptions{}), "/000001.log"), "a failed Sync makes nothing durable")
	tog.Off()
	require.NoError(t, f.Sync())
	require.Equal(t, "abc", readFile(t, mem.CrashClone(vfs.CrashOptions{}), "/000001.log"))
	require.NoError(t, f.Close())
	require.Equal(t, int64(2), tog.Injected())
	require.Equal(t, int64(2), efs.Stats().Injected(vfs.OpAll, vfs.FileAll))
	require.Equal(t, int64(4), efs.Stats().Ops(vfs.OpSync, vfs.FileLog))
}

// Contract: a failed operation is not performed. A Write failing with EIO
// writes nothing; one failing with ENOSPC writes the first half of its
// buffer and says so; a failed Create, Rename, Remove or Truncate changes
// nothing; a failed Open, List, Stat or Lock returns nothing.
func TestErrorFSFailedOperationsChangeNothing(t *testing.T) {
	mem := vfs.NewMem()
	createSynced(t, mem, "/a.log", "0123456789")
	tog := vfs.NewToggle(vfs.ErrInjectedEIO, vfs.OpAll, vfs.FileAll)
	efs := vfs.NewErrorFS(mem, tog)
	f, err := efs.OpenReadWrite("/a.log")
	require.NoError(t, err)
	_, err = f.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	before := snapshot(t, mem)

	tog.On()
	n, err := f.Write([]byte("abcdef"))
	require.ErrorIs(t, err, syscall.EIO)
	require.Zero(t, n)
	require.ErrorIs(t, f.Truncate(2), syscall.EIO)
	require.ErrorIs(t, f.Sync(), syscall.EIO)
	_, err = f.Read(make([]byte, 4))
	require.ErrorIs(t, err, syscall.EIO)
	_, err = f.ReadAt(make([]byte, 4), 0)
	require.ErrorIs(t, err, syscall.EIO)
	_, err = f.Stat()
	require.ErrorIs(t, err, syscall.EIO)
	_, err = efs.Create("/b.sst")
	require.ErrorIs(t, err, syscall.EIO)
	require.ErrorIs(t, efs.Rename("/a.log", "/c.log"), syscall.EIO)
	require.ErrorIs(t, efs.Remove("/a.log"), syscall.EIO)
	require.ErrorIs(t, efs.MkdirAll("/d", 0o755), syscall.EIO)
	_, err = efs.Open("/a.log")
	require.ErrorIs(t, err, syscall.EIO)
	_, err = efs.OpenDir("/")
	require.ErrorIs(t, err, syscall.EIO)
	_, err = efs.List("/")
	require.ErrorIs(t, err, syscall.EIO)
	_, err = efs.Stat("/a.log")
	require.ErrorIs(t, err, syscall.EIO)
	_, err = efs.Lock("/LOCK")
	require.ErrorIs(t, err, syscall.EIO)
	_, err = efs.LockShared("/a.log")
	require.ErrorIs(t, err, syscall.EIO)
	require.ErrorIs(t, efs.Link("/a.log", "/b.log"), syscall.EIO)
	require.Equal(t, before, snapshot(t, mem), "nothing changed")
	require.Equal(t, "0123456789", readFile(t, mem.CrashClone(vfs.CrashOptions{}), "/a.log"), "nothing synced")
	require.Equal(t, int64(17), tog.Injected())
	tog.Off()

	full := vfs.NewErrorFS(mem, vfs.OnNth(vfs.OpWrite, vfs.FileAll, 1, vfs.ErrInjectedENOSPC))
	g, err := full.OpenReadWrite("/a.log")
	require.NoError(t, err)
	_, err = g.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	n, err = g.Write([]byte("abcdefg"))
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.Equal(t, 3, n, "a full disk takes the first half")
	require.Equal(t, "0123456789abc", readFile(t, mem, "/a.log"))
	_, err = g.Write([]byte("XY"))
	require.NoError(t, err, "the space is back")
	require.NoError(t, g.Close())
	require.NoError(t, f.Close(), "Close never fails by injection")
	require.Equal(t, "0123456789abcXY", readFile(t, mem, "/a.log"))
}

// Contract: Stats counts every operation by Op and FileKind, and the
// injected ones apart; masks sum their members.
func TestErrorFSStats(t *testing.T) {
	mem := vfs.NewMem()
	efs := vfs.NewErrorFS(mem, vfs.OnNth(vfs.OpSync, vfs.FileTable, 2, vfs.ErrInjectedEIO))
	f, err := efs.Create("/000001.sst")
	require.NoError(t, err)
	for i := range 3 {
		_, err := f.Write([]byte("x"))
		require.NoError(t, err)
		if err := f.Sync(); i == 1 {
			require.ErrorIs(t, err, vfs.ErrInjectedEIO)
		} else {
			require.NoError(t, err)
		}
	}
	require.NoError(t, f.Close())
	s := efs.Stats()
	require.Equal(t, int64(3), s.Ops(vfs.OpSync, vfs.FileTable))
	require.Equal(t, int64(3), s.Ops(vfs.OpWrite, vfs.FileAll))
	require.Equal(t, int64(7), s.Ops(vfs.OpAll, vfs.FileTable))
	require.Equal(t, int64(6), s.Ops(vfs.OpWrite|vfs.OpSync, vfs.FileTable|vfs.FileLog))
	require.Zero(t, s.Ops(vfs.OpAll, vfs.FileLog))
	require.Equal(t, int64(1), s.Injected(vfs.OpSync, vfs.FileTable))
	require.Equal(t, int64(1), s.Injected(vfs.OpAll, vfs.FileAll))
	require.Zero(t, s.Injected(vfs.OpWrite, vfs.FileAll))
	require.Equal(t, "write/table=3 sync/table=3(1 injected) create/table=1", s.String())
	require.Equal(t, "write|sync", (vfs.OpWrite | vfs.OpSync).String())
	require.Equal(t, "any op", vfs.OpAll.String())
	require.Equal(t, "log|dir", (vfs.FileLog | vfs.FileDir).String())
	require.Equal(t, "any file", vfs.FileAll.String())

	quiet := vfs.NewErrorFS(mem, nil)
	_, err = quiet.Stat("/000001.sst")
	require.NoError(t, err, "a nil Injector fails nothing")
	require.Equal(t, int64(1), quiet.Stats().Ops(vfs.OpStat, vfs.FileTable))
}

// Contract: an ErrorFS and its injectors are safe for concurrent use. Many
// goroutines write, sync and read their own files while a Toggle flips and
// a Random injector fails writes; every operation is counted once, and
// every injected error is counted by both the ErrorFS and its injector.
// Run with -race.
func TestErrorFSConcurrent(t *testing.T) {
	mem := vfs.NewMem()
	rnd := vfs.Random(42, 0.2, vfs.ErrInjectedENOSPC, vfs.OpWrite, vfs.FileAll)
	tog := vfs.NewToggle(vfs.ErrInjectedEIO, vfs.OpSync, vfs.FileAll)
	nth := vfs.OnNth(vfs.OpRead, vfs.FileAll, 50, vfs.ErrInjectedEIO).Sticky()
	efs := vfs.NewErrorFS(mem, vfs.InjectorFunc(func(op vfs.Op, kind vfs.FileKind, path string) error {
		for _, inj := range []vfs.Injector{rnd, tog, nth} {
			if err := inj.MaybeError(op, kind, path); err != nil {
				return err
			}
		}
		return nil
	}))
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	wg.Add(workers + 1)
	stop := make(chan struct{})
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				tog.On()
				tog.Off()
			}
		}
	}()
	var wdone sync.WaitGroup
	wdone.Add(workers)
	for w := range workers {
		go func() {
			defer wg.Done()
			defer wdone.Done()
			name := fmt.Sprintf("/%06d.sst", w)
			f, err := efs.Create(name)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			for range rounds {
				if _, err := f.Write([]byte("data")); err != nil && !errors.Is(err, syscall.ENOSPC) {
					t.Error(err)
				}
				if err := f.Sync(); err != nil && !errors.Is(err, syscall.EIO) {
					t.Error(err)
				}
				if _, err := f.ReadAt(make([]byte, 1), 0); err != nil && !errors.Is(err, syscall.EIO) {
					t.Error(err)
				}
				_ = efs.Stats()
			}
		}()
	}
	wdone.Wait()
	close(stop)
	wg.Wait()
	s := efs.Stats()
	require.Equal(t, int64(workers), s.Ops(vfs.OpCreate, vfs.FileTable))
	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync, vfs.OpRead} {
		require.Equal(t, int64(workers*rounds), s.Ops(op, vfs.FileTable), "%s", op)
	}
	require.Equal(t, rnd.Injected(), s.Injected(vfs.OpWrite, vfs.FileAll))
	require.Equal(t, tog.Injected(), s.Injected(vfs.OpSync, vfs.FileAll))
	require.Equal(t, nth.Injected(), s.Injected(vfs.OpRead, vfs.FileAll))
	require.Equal(t, int64(workers*rounds-49), nth.Injected(), "sticky from the 50th read on")
	require.Positive(t, rnd.Injected())
}
